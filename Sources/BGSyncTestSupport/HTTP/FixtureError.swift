/// A CouchDB error answer: a status and `{"error":…,"reason":…}`. The fixture server answers
/// with these, and ``FixtureServer/createDatabase(_:)`` throws them.
public struct FixtureError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status, e.g. 412.
    public var status: Int
    /// CouchDB's `error`, e.g. `file_exists`.
    public var error: String
    /// CouchDB's `reason`.
    public var reason: String

    /// `412 file_exists: The database could not be created, the file already exists.`
    public var description: String { "\(status) \(error): \(reason)" }

    init(_ status: Int, _ error: String, _ reason: String) {
        self.status = status
        self.error = error
        self.reason = reason
    }

    static let databaseMissing = FixtureError(404, "not_found", "Database does not exist.")
    static let missing = FixtureError(404, "not_found", "missing")
    static let invalidJSON = FixtureError(400, "bad_request", "invalid UTF-8 JSON")
    static let unauthorized = FixtureError(401, "unauthorized", "You are not authorized to access this db.")
    static let badCredentials = FixtureError(401, "unauthorized", "Name or password is incorrect.")
    static let conflict = FixtureError(409, "conflict", "Document update conflict.")

    static func methodNotAllowed(_ allowed: String) -> FixtureError {
        FixtureError(405, "method_not_allowed", "Only \(allowed) allowed")
    }

    /// The error body.
    var json: String {
        "{\"error\":" + JSONText.quoted(error) + ",\"reason\":" + JSONText.quoted(reason) + "}"
    }
}
