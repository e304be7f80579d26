import BGSyncStore
import Foundation
import GRDB

/// The floor of DESIGN §8: the least work any pull must do — download every document with
/// `_all_docs?include_docs=true` and insert the rows into a plain SQLite table.
///
/// Done in this process (no process start-up): pages of ``pageSize`` rows (`limit`, then
/// `startkey` = the last id with `skip=1`), each downloaded whole, parsed with BGSyncStore's
/// `JSONReader`, and its rows `(id, rev, doc)` inserted with one prepared statement; all pages
/// go into one transaction, committed at the end. Same SQLite settings as a bgsync store
/// (WAL, `synchronous=NORMAL`).
enum Floor {
    /// Rows per `_all_docs` request.
    static let pageSize = 10_000

    struct Measurement: Sendable {
        var seconds: Double
        var rows: Int
        var requests: Int
    }

    static func measure(databaseURL: String, http: BenchHTTP, sqlitePath: String) async throws -> Measurement {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: sqlitePath + suffix) }
        let started = DispatchTime.now().uptimeNanoseconds
        var configuration = Configuration()
        // One transaction spans the pages, which are downloaded between database accesses.
        configuration.allowsUnsafeTransactions = true
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let queue = try DatabaseQueue(path: sqlitePath, configuration: configuration)
        try queue.inDatabase { db in
            try db.execute(sql: "CREATE TABLE docs (id TEXT PRIMARY KEY NOT NULL, rev TEXT NOT NULL, doc TEXT NOT NULL)")
            try db.execute(sql: "BEGIN IMMEDIATE")
        }
        var rows = 0
        var requests = 0
        var lastID: String?
        while true {
            try Interruption.check()
            var url = databaseURL + "/_all_docs?include_docs=true&limit=\(pageSize)"
            if let lastID {
                url += "&skip=1&startkey=" + BenchHTTP.queryValue(JSONValue.string(lastID).serialized)
            }
            let body = try await http.expect(200...200, .GET, url)
            requests += 1
            let page = try parse(body, url: url)
            try queue.inDatabase { db in
                let insert = try db.cachedStatement(sql: "INSERT INTO docs (id, rev, doc) VALUES (?, ?, ?)")
                for row in page { try insert.execute(arguments: [row.id, row.rev, row.doc]) }
            }
            rows += page.count
            guard page.count == pageSize, let last = page.last else { break }
            lastID = last.id
        }
        try queue.inDatabase { db in try db.execute(sql: "COMMIT") }
        try queue.close()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000_000
        return Measurement(seconds: seconds, rows: rows, requests: requests)
    }

    private struct Row {
        var id: String
        var rev: String
        var doc: String
    }

    /// The rows of one `_all_docs` answer.
    private static func parse(_ bytes: [UInt8], url: String) throws -> [Row] {
        var rows: [Row] = []
        do {
            var reader = JSONReader(bytes)
            try reader.beginObject()
            while let key = try reader.nextKey() {
                guard key == "rows" else {
                    try reader.skipValue()
                    continue
                }
                try reader.beginArray()
                while try reader.nextElement() {
                    try reader.beginObject()
                    var id: String?
                    var rev: String?
                    var doc: String?
                    while let member = try reader.nextKey() {
                        switch member {
                        case "id": id = try reader.readString()
                        case "value": rev = try reader.readValue()["rev"]?.stringValue
                        case "doc":
                            let range = try reader.skipValue()
                            doc = String(decoding: reader.bytes[range], as: UTF8.self)
                        default: try reader.skipValue()
                        }
                    }
                    guard let id, let rev, let doc else {
                        throw BenchError("GET \(BenchHTTP.redacted(url)): a row without id, value.rev or doc")
                    }
                    rows.append(Row(id: id, rev: rev, doc: doc))
                }
            }
            try reader.finish()
        } catch let error as JSONError {
            throw BenchError("GET \(BenchHTTP.redacted(url)): the answer is not valid JSON: \(error)")
        }
        return rows
    }
}
