"""The local stack: template.yaml's functions, state machine and API on moto, on one machine
(`bulk-import serve`), and the AWS behaviours moto lacks (the SDK boundary, the moto patches).
It depends on the layer and the template, never on the CLI; the CLI imports it only for the
commands that run the template here (serve, invoke, openapi, sam-env)."""
