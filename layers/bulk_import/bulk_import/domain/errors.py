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
