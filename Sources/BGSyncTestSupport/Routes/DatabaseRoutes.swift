import BGSyncStore
import Foundation

/// `PUT`, `GET`, `DELETE` and `POST /db`.
extension Routes {
    func databaseEndpoint(_ request: CouchRequest, name: String) throws(FixtureError) -> FixtureResponse {
        switch request.method {
        case "PUT":
            _ = try core.createDatabase(name)
            return .json(201, #"{"ok":true}"#, headers: [("Location", location(request, Self.encodeSegment(name)))])
        case "DELETE":
            guard core.deleteDatabase(name) else { throw FixtureError.databaseMissing }
            return .json(200, #"{"ok":true}"#)
        case "GET":
            guard let hosted = core.database(name) else { throw FixtureError.databaseMissing }
            return .json(200, try info(name: name, hosted: hosted))
        case "POST":
            guard let hosted = core.database(name) else { throw FixtureError.databaseMissing }
            return try createDocument(request, DatabaseContext(name: name, store: hosted.store, hosted: hosted))
        default:
            throw FixtureError.methodNotAllowed("DELETE,GET,HEAD,POST,PUT")
        }
    }

    /// `GET /db`, in CouchDB 3.4.3's member order.
    func info(name: String, hosted: FixtureCore.HostedDatabase) throws(FixtureError) -> String {
        let info = try Self.store { try hosted.currentInfo() }
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: hosted.file)[.size] as? Int) ?? 0
        let sizes = "{\"file\":\(fileSize),\"external\":0,\"active\":0}"
        return JSONText.object([
            ("instance_start_time", JSONText.quoted(hosted.instanceStartTime)),
            ("db_name", JSONText.quoted(name)),
            ("purge_seq", core.sequences.json(hosted.purgeSeq.withLock { $0 })),
            ("update_seq", core.sequences.json(info.updateSeq)),
            ("sizes", sizes),
            ("props", "{}"),
            ("doc_del_count", String(info.deletedDocumentCount)),
            ("doc_count", String(info.documentCount)),
            ("disk_format_version", "8"),
            ("compact_running", "false"),
            ("cluster", #"{"q":2,"n":1,"w":1,"r":1}"#),
        ])
    }
}
