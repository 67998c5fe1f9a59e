"""Domain errors. Each dialect maps them to its own status code and error body."""


class BulkImportError(Exception):
    """Base of every error the domain raises on purpose."""


class CellNotFound(BulkImportError):
    pass


class AuthenticationRequired(BulkImportError):
    """No credential was presented."""


class InvalidCredential(BulkImportError):
    """A credential was presented but matches none we issued."""


class CredentialExpired(BulkImportError):
    pass


class PermissionDenied(BulkImportError):
    """The caller is authenticated but lacks the privilege or permission the action needs."""


class OperationNotFound(BulkImportError):
    pass


class InvalidCursor(BulkImportError):
    """A pagination cursor that this listing did not hand out."""


class StoreUnavailable(BulkImportError):
    """The table did not answer in time: throttled, failing or slow beyond the retries the
    invocation's remaining time allows (bulk_import.domain.deadline). Every request is safe to
    repeat, so the caller tries again later: an API answers 503 with Retry-After, a worker task
    fails its attempt, which Step Functions retries."""

    #: Seconds a client is asked to wait before it tries again (Retry-After).
    retry_after = 5
