import BGSyncStore
import Foundation

/// `bgsync-bench --payloads`: peak memory with one big document (DESIGN §8: "under 100 MB …
/// with a 1 GB attachment; a large JSON document costs at most 2.5× its size"). For each
/// payload a local store holding only it is seeded in this process, `bgsync` pushes it into a
/// new database, then pulls it into a new store; both children's peak RSS is measured.
///
/// What a document costs is the peak RSS of moving it less that of moving a 1 KB document the
/// same way, measured first in the same run (``PayloadResult/baselineRSSBytes``): the process's
/// own ~36 MB, most of it its code and libraries mapped in, is not the document's.
extension Scenarios {
    /// A 1 KB JSON document (the baseline), then the two payloads: one attachment of
    /// `attachmentBytes`, one JSON document of `jsonBytes`.
    func payloads(attachmentBytes: Int, jsonBytes: Int) async throws -> [PayloadResult] {
        let baseline = try await payload(key: "baseline", title: "one 1 KB JSON document (baseline)", bytes: 1000) { store in
            try Self.seedJSON(store, bytes: 1000)
        }
        var results = [baseline]
        results.append(try await payload(key: "attachment", title: "one \(ByteSize.format(attachmentBytes)) attachment", bytes: attachmentBytes) { store in
            try Self.seedAttachment(store, bytes: attachmentBytes)
        })
        var json = try await payload(key: "json", title: "one \(ByteSize.format(jsonBytes)) JSON document", bytes: jsonBytes) { store in
            try Self.seedJSON(store, bytes: jsonBytes)
        }
        json.baselineRSSBytes = baseline.peakRSSBytes
        results.append(json)
        return results
    }

    private func payload(key: String, title: String, bytes: Int, seed: (DocumentStore) throws -> Void) async throws -> PayloadResult {
        let source = workDir + "/payload-\(key).sqlite"
        let pulled = workDir + "/payload-\(key)-pulled.sqlite"
        removeStore(source)
        removeStore(pulled)
        try await timedSeeding("local store (\(title))") {
            let store = try DocumentStore.open(at: source)
            try seed(store)
            try store.checkpointLog()
        }
        let database = prefix + "-payload-\(key)"
        try await createDatabase(database)
        progress("pushing \(title)")
        let (push, pushReport) = try await sync(source, database, "--push-only")
        try expectWritten(pushReport, "push", 1, scenario: "payload push (\(title))")
        progress("pulling \(title)")
        let (pull, pullReport) = try await sync(pulled, database, "--pull-only")
        try expectWritten(pullReport, "pull", 1, scenario: "payload pull (\(title))")
        try await deleteDatabase(database)
        removeStore(source)
        removeStore(pulled)
        return PayloadResult(key: key, title: title, bytes: bytes, push: push, pull: pull)
    }

    /// One document whose attachment is `bytes` of incompressible data, written through a
    /// spool file as a replicated revision (the data never whole in this process either).
    static func seedAttachment(_ store: DocumentStore, bytes: Int) throws {
        var random = SystemRandomNumberGenerator()
        let block = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let writer = try SpoolFile.Writer(in: (store.path as NSString).deletingLastPathComponent)
        var hasher = MD5Hasher()
        var written = 0
        var index: UInt64 = 0
        while written < bytes {
            var piece = Array(block.prefix(bytes - written))
            withUnsafeBytes(of: index.littleEndian) { stamp in
                for (offset, byte) in stamp.enumerated() where offset < piece.count { piece[offset] = byte }
            }
            try piece.withUnsafeBytes { buffer in
                hasher.update(buffer)
                try writer.append(buffer)
            }
            written += piece.count
            index += 1
        }
        let file = try writer.finish()
        let digest = "md5-" + Data(hasher.finalize()).base64EncodedString()
        var document = try IncomingDocument(json: """
            {"_id":"attachment","_rev":"1-\(MD5.hexDigest(Array(digest.utf8)))","kind":"payload",\
            "_attachments":{"payload.bin":{"content_type":"application/octet-stream","revpos":1,"digest":"\(digest)","length":\(bytes),"follows":true}}}
            """)
        document.attachSpooledData(["payload.bin": file])
        try store.write { _ = try $0.saveReplicated(document) }
    }

    /// One document of about `bytes` of JSON: many small members, as a big export would be.
    static func seedJSON(_ store: DocumentStore, bytes: Int) throws {
        var json = "{\"_id\":\"json\",\"_rev\":\"1-\(MD5.hexDigest(Array("json\(bytes)".utf8)))\",\"rows\":["
        var index = 0
        while json.utf8.count < bytes - 100 {
            if index > 0 { json += "," }
            json += "{\"n\":\(index),\"name\":\"row \(index)\",\"ok\":\(index % 2 == 0),\"ratio\":\(Double(index) / 7),\"tags\":[\"a\",\"b\"]}"
            index += 1
        }
        json += "]}"
        try store.write { _ = try $0.saveReplicated(try IncomingDocument(json: json)) }
    }
}

/// The push and pull of one payload.
struct PayloadResult: Sendable {
    var key: String
    var title: String
    /// The payload's size in bytes.
    var bytes: Int
    var push: RunSample
    var pull: RunSample
    /// For the JSON document: the baseline's peak RSS, the same moves of a 1 KB document.
    var baselineRSSBytes: Int?

    /// The higher peak RSS of the two runs.
    var peakRSSBytes: Int { max(push.peakRSSBytes ?? 0, pull.peakRSSBytes ?? 0) }

    /// What the document itself costs: the peak less the baseline's (nil without a baseline).
    var costBytes: Int? { baselineRSSBytes.map { max(0, peakRSSBytes - $0) } }

    /// DESIGN §8: under 100 MB in all with an attachment; a JSON document costs at most 2.5×
    /// its size; the baseline has none.
    var budget: (limit: Int, text: String)? {
        switch key {
        case "attachment": (100_000_000, "< 100 MB")
        case "json": (bytes * 5 / 2, "cost ≤ 2.5 × size")
        default: nil
        }
    }

    /// Whether the budget is met: the peak for an attachment, the cost for a JSON document.
    var met: Bool? {
        guard let budget else { return nil }
        return (key == "json" ? costBytes ?? peakRSSBytes : peakRSSBytes) <= budget.limit
    }
}
