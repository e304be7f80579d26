import BGSyncReplication
import BGSyncStore
import BGSyncTestSupport
import Foundation
import PropertyBased
import Testing

/// Issue 13, point 2: whatever a store accepts reaches the other side byte for byte under the
/// same revision. Random documents — escapes, astral characters, big and odd numbers, unicode
/// keys, white space in odd places, nesting — are written through the three doors (SQL through
/// the `documents` view, `put`, and the fixture server's store), then pulled and pushed between
/// a local store, the fixture server and a `file:` store: every side ends with the same rows
/// `(id, rev, body bytes)`.
@Suite("bytes are never changed in transit")
struct TransitFidelityTests {
    /// `BGSYNC_SEED` when set, else a fresh seed (printed, so that a failure can be repeated).
    static let seed = SeededRandom.seed(for: "TransitFidelityTests")

    static let numbers = ["1.0", "1e-7", "12345678901234567890", "-0", "0", "-0.0", "1E+2", "1e308", "0.000001", "3.141592653589793238462643383279",
                          "-12345678901234567890.12345678901234567890e-300", "100", "7"]
    static let stringPieces = [#"\""#, #"\\"#, #"\/"#, #"\b\f\n\r\t"#, #"\u00e9"#, #"\u00E9"#, #"\ud83d\ude00"#, #"\u0000"#, "é", "日本語", "😀",
                               "\u{10FFFF}", "\u{FFFE}", "\u{7F}", " ", "plain", "a\u{301}", "\u{202E}"]
    static let whitespace = ["", "", "", " ", "\n  ", "\t", "\r\n"]

    /// Picks from a list with PropertyBased's generators and a seeded Xoshiro.
    static func pick<T: Sendable>(_ items: [T], _ rng: inout Xoshiro) -> T {
        Gen<T?>.element(of: items).run(using: &rng) ?? items[0]
    }

    static func string(_ rng: inout Xoshiro) -> String {
        let count = Gen<Int>.value(in: 0...4).run(using: &rng)
        return "\"" + (0..<count).map { _ in pick(stringPieces, &rng) }.joined() + "\""
    }

    static func value(_ rng: inout Xoshiro, depth: Int) -> String {
        let kind = Gen<Int>.value(in: 0...(depth < 5 ? 6 : 4)).run(using: &rng)
        switch kind {
        case 0, 1: return pick(numbers, &rng)
        case 2: return string(&rng)
        case 3: return pick(["true", "false", "null"], &rng)
        case 4: return String(Gen<Int64>.int64().run(using: &rng))
        case 5:
            let count = Gen<Int>.value(in: 0...3).run(using: &rng)
            let ws = pick(whitespace, &rng)
            return "[" + ws + (0..<count).map { _ in value(&rng, depth: depth + 1) }.joined(separator: "," + ws) + ws + "]"
        default:
            return object(&rng, depth: depth + 1, keys: Gen<Int>.value(in: 0...3).run(using: &rng))
        }
    }

    /// An object whose keys are unique (a suffix makes them so) and never start with `_`.
    static func object(_ rng: inout Xoshiro, depth: Int, keys: Int) -> String {
        let ws = pick(whitespace, &rng)
        let members = (0..<keys).map { index -> String in
            let key = String(string(&rng).dropFirst().dropLast()) + "\(index)"
            return "\"k" + key + "\"" + pick(["", " "], &rng) + ":" + pick(["", " "], &rng) + value(&rng, depth: depth)
        }
        return ws + "{" + ws + members.joined(separator: pick([",", ", ", " ,\n "], &rng)) + ws + "}" + ws
    }

    /// Every document of a store as `id rev hex(body)`, read by the `sqlite3` shell: the bytes
    /// as stored, not as Swift would decode them.
    static func rows(_ path: String) throws -> [String] {
        try sqlite3(path, "SELECT id || ' ' || rev || ' ' || deleted || ' ' || hex(CAST(body AS BLOB)) FROM documents ORDER BY id;")
            .split(separator: "\n").map(String.init)
    }

    /// A row with its body compacted as a server stores it.
    static func compacted(_ row: String) throws -> String {
        let parts = row.split(separator: " ", maxSplits: 3).map(String.init)
        let hex = Array(parts[3].utf8)
        var bytes: [UInt8] = []
        var index = 0
        while index + 1 < hex.count {
            bytes.append(UInt8(try #require(UInt8(String(decoding: hex[index...index + 1], as: UTF8.self), radix: 16))))
            index += 2
        }
        let compact = FixtureServer.compact(bytes).map { String(format: "%02X", $0) }.joined()
        return parts[0...2].joined(separator: " ") + " " + compact
    }

    /// The first rows that differ, for the failure message.
    static func difference(_ a: [String], _ b: [String]) -> String {
        let left = Set(a), right = Set(b)
        return "only in the first: \(a.filter { !right.contains($0) }.prefix(2)); only in the second: \(b.filter { !left.contains($0) }.prefix(2))"
    }

    @Test("random documents written through SQL, put and the server survive pull and push byte-identical")
    func roundTrip() async throws {
        try await withServer { server, remote, dir in
            var rng = Xoshiro(seed: (Self.seed, Self.seed ^ 0x9E37_79B9_7F4A_7C15, ~Self.seed, Self.seed &* 31))
            let count = HostileInput.iterations(default: 60)
            let localPath = dir + "/local.sqlite"
            let local = try DocumentStore.open(at: localPath)
            var sql: [String] = []
            for index in 0..<count {
                let body = Self.object(&rng, depth: 0, keys: Gen<Int>.value(in: 0...6).run(using: &rng))
                switch index % 3 {
                case 0: sql.append("INSERT INTO documents (id, body) VALUES ('sql-\(index)', '\(body.replacingOccurrences(of: "'", with: "''"))');")
                case 1: try local.put("put-\(index)", body)
                default: try remote.put("server-\(index)", body)
                }
            }
            _ = try sqlite3(localPath, sql.joined(separator: "\n"))
            // Updates through SQL too: a second revision of some documents.
            _ = try sqlite3(localPath, "UPDATE documents SET body = ' {\"again\" : 1.0 } ' WHERE id IN ('sql-0', 'put-1');")

            _ = try await sync(localPath, server.url("db"))
            let localRows = try Self.rows(localPath)
            #expect(localRows.count == count)
            // A server stores what it is sent as compact JSON (CouchDB does, and so does the
            // fixture server): a pulled document is stored here exactly as the server holds it;
            // a pushed one reaches the server as stored here, and is kept there compacted — the
            // two sides differ at most by white space between tokens, under the same revision.
            let serverRows = try Self.rows(remote.path)
            let compacted = try localRows.map { $0.hasPrefix("server-") ? $0 : try Self.compacted($0) }
            #expect(serverRows == compacted, "seed \(Self.seed): local and server differ: \(Self.difference(compacted, serverRows))")

            // Store to store: push to a file, pull from it into a fresh store.
            let backup = dir + "/backup.sqlite"
            _ = try await sync(localPath, "file:" + backup, direction: .push)
            #expect(try Self.rows(backup) == localRows, "seed \(Self.seed): local and file remote differ")
            let fresh = dir + "/fresh.sqlite"
            _ = try await sync(fresh, "file:" + backup, direction: .pull)
            #expect(try Self.rows(fresh) == localRows, "seed \(Self.seed): a fresh pull differs")
            // From the server into a fresh store: exactly the server's bytes.
            let second = dir + "/second.sqlite"
            _ = try await sync(second, server.url("db"), direction: .pull)
            #expect(try Self.rows(second) == serverRows, "seed \(Self.seed): a pull from the server differs from the server")
            print("TransitFidelityTests: \(count) documents, byte-identical on 4 stores and compacted on the server")
        }
    }
}
