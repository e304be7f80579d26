import BGSyncStore
import Foundation

/// `GET /`, `/_up`, `/_all_dbs`, `/_uuids` and `/_session`.
extension Routes {
    func welcome(_ request: CouchRequest) throws(FixtureError) -> FixtureResponse {
        try Self.allow(request, "GET,HEAD")
        return .json(200, JSONText.object([
            ("couchdb", JSONText.quoted("Welcome")),
            ("version", JSONText.quoted("3.4.3")),
            ("git_sha", JSONText.quoted("e12b967")),
            ("uuid", JSONText.quoted(core.uuid)),
            ("features", JSONText.stringArray(["quickjs", "access-ready", "partitioned", "pluggable-storage-engines", "reshard", "scheduler"])),
            ("vendor", #"{"name":"The Apache Software Foundation"}"#),
        ]))
    }

    func serverEndpoint(_ request: CouchRequest) throws(FixtureError) -> FixtureResponse {
        let segments = request.segments
        switch segments[0] {
        case "_up" where segments.count == 1:
            try Self.allow(request, "GET,HEAD")
            return .json(200, #"{"status":"ok","seeds":{}}"#)
        case "_all_dbs" where segments.count == 1:
            try Self.allow(request, "GET,HEAD")
            return .json(200, JSONText.stringArray(core.databaseNames))
        case "_uuids" where segments.count == 1:
            try Self.allow(request, "GET,HEAD")
            let count = min(try request.integer("count") ?? 1, 1000)
            let uuids = (0..<count).map { _ in Self.newDocumentID() }
            return .json(200, "{\"uuids\":" + JSONText.stringArray(uuids) + "}")
        case "_session" where segments.count == 1:
            return try session(request)
        default:
            throw FixtureError(400, "illegal_database_name", "Name: '\(segments[0])'. Only lowercase characters (a-z), digits (0-9), and any of the characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.")
        }
    }

    /// CouchDB's cookie authentication endpoint.
    func session(_ request: CouchRequest) throws(FixtureError) -> FixtureResponse {
        switch request.method {
        case "GET":
            let name = request.user.map(JSONText.quoted) ?? "null"
            let roles = request.user != nil || !core.requiresAuthentication ? #"["_admin"]"# : "[]"
            var info = #"{"authentication_handlers":["cookie","default"]"#
            if request.user != nil {
                let authorization = request.headers["authorization"]?.lowercased() ?? ""
                let handler = authorization.hasPrefix("basic") ? "default" : authorization.hasPrefix("bearer") ? "jwt" : "cookie"
                info += ",\"authenticated\":\"\(handler)\""
            }
            info += "}"
            return .json(200, "{\"ok\":true,\"userCtx\":{\"name\":\(name),\"roles\":\(roles)},\"info\":\(info)}")
        case "POST":
            let credentials = try Self.loginCredentials(request)
            guard let name = credentials.name, let password = credentials.password,
                  core.configuration.users[name] == password
            else {
                return .error(FixtureError.badCredentials, headers: [("Set-Cookie", FixtureCore.sessionCookie(""))])
            }
            let token = core.newSession(for: name)
            return .json(200, "{\"ok\":true,\"name\":\(JSONText.quoted(name)),\"roles\":[\"_admin\"]}",
                         headers: [("Set-Cookie", FixtureCore.sessionCookie(token))])
        case "DELETE":
            core.endSession(FixtureCore.cookie(named: "AuthSession", in: request.headers["cookie"]))
            return .json(200, #"{"ok":true}"#, headers: [("Set-Cookie", FixtureCore.sessionCookie(""))])
        default:
            throw FixtureError.methodNotAllowed("GET,HEAD,POST,DELETE")
        }
    }

    /// `name` and `password` from a JSON or form body.
    static func loginCredentials(_ request: CouchRequest) throws(FixtureError) -> (name: String?, password: String?) {
        if request.contentType == "application/x-www-form-urlencoded" {
            let fields = CouchRequest.parseQuery(String(decoding: request.body, as: UTF8.self))
            return (fields.last { $0.name == "name" }?.value, fields.last { $0.name == "password" }?.value)
        }
        let object = try request.jsonObjectBody()
        return (object["name"]?.stringValue, object["password"]?.stringValue)
    }

    /// 32 lowercase hex characters, as CouchDB's default `random` uuid algorithm.
    static func newDocumentID() -> String {
        MD5.hex((0..<16).map { _ in UInt8.random(in: 0...255) })
    }
}
