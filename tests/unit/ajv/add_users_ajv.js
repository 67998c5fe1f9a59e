// Answers bodies.json with AJV, as Rocket.Chat's isImportAddUsersParamsPOST validates import.addUsers
// (packages/rest-typings/src/v1/import/ImportAddUsersParamsPOST.ts): the schema and options are its.
// For each body: {valid, users (after coercion)} or {valid: false, error}. A body that is not JSON
// is validated as {} (what the router leaves as bodyParams).
const Ajv = require('ajv');
const fs = require('fs');

const ajv = new Ajv({ coerceTypes: true });
const schema = {
	type: 'object',
	properties: {
		users: {
			type: 'array',
			items: {
				type: 'object',
				properties: {
					username: { type: 'string', nullable: true },
					emails: { type: 'array', items: { type: 'string' } },
					importIds: { type: 'array', items: { type: 'string' } },
					name: { type: 'string', nullable: true },
					utcOffset: { type: 'number', nullable: true },
					avatarUrl: { type: 'string', nullable: true },
					deleted: { type: 'boolean', nullable: true },
					statusText: { type: 'string', nullable: true },
					roles: { type: 'array', items: { type: 'string' }, nullable: true },
					type: { type: 'string', nullable: true },
					bio: { type: 'string', nullable: true },
					password: { type: 'string', nullable: true },
				},
				required: ['emails', 'importIds'],
			},
		},
	},
	additionalProperties: false,
	required: ['users'],
};
const validate = ajv.compile(schema);

const answers = JSON.parse(fs.readFileSync('bodies.json', 'utf8')).map((body) => {
	let data;
	try {
		data = JSON.parse(body || '{}');
	} catch {
		data = {};
	}
	if (validate(data)) {
		return { valid: true, users: data.users };
	}
	return { valid: false, error: validate.errors.map((error) => error.message).join('\n ') };
});
process.stdout.write(`${JSON.stringify(answers, null, 1)}\n`);
