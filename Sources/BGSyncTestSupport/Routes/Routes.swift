import BGSyncStore
import Foundation

/// Dispatches a request to the handler for its path, turning thrown errors into CouchDB error
/// answers. One handler family per file in `Routes/`.
struct Routes {
    let core: FixtureCore

    func handle(_ request: CouchRequest) -> FixtureResponse {
        do throws(FixtureError) {
            var request = request
            request.user = try core.authenticate(request)
            if core.requiresAuthentication, request.user == nil, !Self.isPublic(request) {
                throw FixtureError.unauthorized
            }
            return try route(request)
        } catch {
            return .error(error)
        }
    }

    /// What CouchDB answers without credentials: the welcome, `_up` and the session endpoint.
    static func isPublic(_ request: CouchRequest) -> Bool {
        guard let first = request.segments.first else { return true }
        return request.segments.count == 1 && (first == "_session" || first == "_up")
    }

    func route(_ request: CouchRequest) throws(FixtureError) -> FixtureResponse {
        let segments = request.segments
        guard let first = segments.first else { return try welcome(request) }
        if first.hasPrefix("_") { return try serverEndpoint(request) }
        if segments.count == 1 { return try databaseEndpoint(request, name: first) }
        guard let database = core.database(first) else { throw FixtureError.databaseMissing }
        let db = DatabaseContext(name: first, store: database.store, hosted: database)
        switch segments[1] {
        case "_bulk_docs": return try bulkDocs(request, db)
        case "_bulk_get": return try bulkGet(request, db)
        case "_revs_diff": return try revsDiff(request, db)
        case "_changes": return try changes(request, db)
        case "_all_docs": return try allDocs(request, db)
        case "_ensure_full_commit":
            try Self.allow(request, "POST")
            return .json(201, #"{"ok":true,"instance_start_time":"0"}"#)
        case "_local":
            guard segments.count >= 3 else { throw FixtureError.missing }
            return try localDocument(request, db, id: "_local/" + segments[2...].joined(separator: "/"))
        case "_design":
            guard segments.count >= 3 else { throw FixtureError.missing }
            let id = "_design/" + segments[2]
            if segments.count > 3 { return try attachment(request, db, id: id, name: segments[3...].joined(separator: "/")) }
            return try document(request, db, id: id)
        default:
            if segments[1].hasPrefix("_") {
                throw FixtureError(400, "bad_request", "Only reserved document ids may start with underscore.")
            }
            if segments.count > 2 { return try attachment(request, db, id: segments[1], name: segments[2...].joined(separator: "/")) }
            return try document(request, db, id: segments[1])
        }
    }

    /// A database a request addresses.
    struct DatabaseContext {
        var name: String
        var store: DocumentStore
        var hosted: FixtureCore.HostedDatabase
    }

    /// 405 unless the method is one of `allowed` (comma-separated, CouchDB's wording).
    static func allow(_ request: CouchRequest, _ allowed: String) throws(FixtureError) {
        let methods = allowed.split(separator: ",").map(String.init)
        if !methods.contains(request.method) { throw FixtureError.methodNotAllowed(allowed) }
    }

    /// `http://host/…` for `Location` headers.
    func location(_ request: CouchRequest, _ path: String) -> String {
        "http://\(request.headers["host"] ?? "127.0.0.1")/\(path)"
    }

    /// Runs store work, mapping its errors to CouchDB's.
    static func store<T>(_ body: () throws -> T) throws(FixtureError) -> T {
        do {
            return try body()
        } catch let error as FixtureError {
            throw error
        } catch let error as StoreError {
            throw map(error)
        } catch {
            throw FixtureError(500, "internal_server_error", "\(error)")
        }
    }

    static func map(_ error: StoreError) -> FixtureError {
        switch error.code {
        case .notFound: FixtureError(404, "not_found", error.reason ?? "missing")
        case .conflict: FixtureError.conflict
        case .missingStub: FixtureError(412, "missing_stub", error.message)
        case .invalidDocument, .invalidRevision: FixtureError(400, "bad_request", error.message)
        default: FixtureError(500, error.couchError, error.message)
        }
    }

    /// Percent-encodes one path segment (for `Location`).
    static func encodeSegment(_ text: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
