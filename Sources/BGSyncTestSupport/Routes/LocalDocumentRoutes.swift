import BGSyncStore

/// `GET`, `PUT`, `DELETE /db/_local/ID`: no revision tree, rev `0-N`, `_rev` not checked on
/// write (CouchDB 3).
extension Routes {
    func localDocument(_ request: CouchRequest, _ db: DatabaseContext, id: String) throws(FixtureError) -> FixtureResponse {
        switch request.method {
        case "GET":
            guard let json = try Self.store({ try db.store.read { try $0.localDocument(id) } }) else {
                throw FixtureError.missing
            }
            let rev = JSONText.member("_rev", in: json)?.stringValue ?? "0-0"
            return .json(200, json, headers: [Self.etag(rev)])
        case "PUT":
            _ = try request.jsonObjectBody()
            let json = String(decoding: JSONText.minified(request.body), as: UTF8.self)
            let rev = try Self.store { try db.store.write { try $0.putLocal(id: id, json: json) } }
            // CouchDB's Location encodes the slash of _local/ids.
            return .json(201, "{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\(JSONText.quoted(rev))}",
                         headers: [Self.etag(rev), ("Location", location(request, db.name + "/" + Self.encodeSegment(id)))])
        case "DELETE":
            let existed = try Self.store { try db.store.write { try $0.deleteLocal(id: id) } }
            guard existed else { throw FixtureError.missing }
            return .json(200, "{\"ok\":true,\"id\":\(JSONText.quoted(id)),\"rev\":\"0-0\"}")
        default:
            throw FixtureError.methodNotAllowed("GET,PUT,DELETE")
        }
    }
}
