@testable import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Issue 13, point 1: the SQL triggers refuse exactly what `db put` refuses (``DocumentRules``),
/// and the same body is stored as the same bytes whichever door it came through; a file written
/// before schema version 2 is migrated and its bad documents are found on the way out.
@Suite("document rules at every door")
struct DocumentRulesTests {
    /// The seed of the random cases: `BGSYNC_SEED` when set, else a fresh one (printed).
    static let seed = SeededRandom.seed(for: "DocumentRulesTests")

    /// Valid bodies with the awkward parts: escapes, astral characters, odd numbers, unicode
    /// keys, white space in odd places, deep-ish nesting.
    static let corpus: [String] = [
        "{}", " { } ", #"{"a":1}"#, "{\n  \"title\": \"x\",\n  \"n\": 1.0\n}\n",
        #"{"n":[1.0,1e-7,12345678901234567890,-0,0.1e+10,1E2]}"#,
        #"{"s":"\u00e9\ud83d\ude00\n\t\"\\\/","k\u00e9y":true}"#,
        "{\"é\":\"😀 \u{10FFFF} \u{FFFE} \u{7F}\",\"日本\":null}",
        #"{"a" : 1 , "b":[ 1 , 2 ] ,"c":{ "d" : { } }}"#,
        "{\"deep\":" + String(repeating: "[", count: 511) + String(repeating: "]", count: 511) + "}",
        #"{"dup":1,"dup":2,"":""}"#,
    ]

    /// Whether `db put` takes `bytes` as a body: the rules, and no `_` member (which `put`
    /// reads as metadata and SQL refuses).
    static func putAccepts(_ bytes: [UInt8]) -> Bool {
        guard DocumentRules.problem(inBody: bytes) == nil, let members = try? RawJSONObject.members(ofObject: bytes) else { return false }
        return !members.contains { $0.key.hasPrefix("_") }
    }

    @Test("random and hostile bodies: INSERT through the view (Python's sqlite3) accepts exactly what put accepts, stored as put stores it")
    func sqlMatchesPut() throws {
        var rng = SeededRandom(seed: Self.seed)
        var bodies: [[UInt8]] = Self.corpus.map { Array($0.utf8) }
        let count = HostileInput.iterations(default: 400)
        for _ in 0..<count {
            let base = Array(rng.pick(Self.corpus).utf8)
            bodies.append(rng.chance(50) ? HostileInput.mutateBytes(base, &rng) : HostileInput.mutateJSON(base, &rng))
        }
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            // One Python process inserts every body (as text holding exactly these bytes) and
            // prints, per body, the stored body in hex or the error.
            let input = bodies.map { Data($0).map { String(format: "%02x", $0) }.joined() }.joined(separator: "\n")
            let inputFile = dir.path("bodies.txt")
            try input.write(toFile: inputFile, atomically: true, encoding: .utf8)
            let result = try Subprocess.python("""
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
                for index, line in enumerate(open(sys.argv[2]).read().split("\\n")):
                    try:
                        db.execute("INSERT INTO documents (id, body) VALUES (?, CAST(? AS TEXT))", ("d%d" % index, bytes.fromhex(line)))
                        print("ok " + db.execute("SELECT hex(CAST(body AS BLOB)) FROM documents WHERE id = ?", ("d%d" % index,)).fetchone()[0])
                    except sqlite3.Error as error:
                        print("refused " + str(error).replace("\\n", " "))
                """, [store.path, inputFile])
            try #require(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            try #require(lines.count >= bodies.count, "\(result.stdout.prefix(500))")
            var accepted = 0
            for (index, body) in bodies.enumerated() {
                let line = lines[index]
                let expected = Self.putAccepts(body)
                let context = "seed \(Self.seed), body \(index): \(String(decoding: body.prefix(120), as: UTF8.self).debugDescription) → \(line.prefix(200))"
                #expect(line.hasPrefix("ok ") == expected, "\(context)")
                if line.hasPrefix("refused ") { #expect(line.contains("bgsync:"), "\(context)") }
                guard expected, line.hasPrefix("ok ") else { continue }
                accepted += 1
                // Stored as `db put` stores it: the same bytes.
                let stored = try IncomingDocument(json: body).body
                #expect(line.dropFirst(3).lowercased() == Data(stored.utf8).map { String(format: "%02x", $0) }.joined(), "\(context)")
            }
            print("DocumentRulesTests: \(bodies.count) bodies, \(accepted) accepted by both doors")
        }
    }

    @Test("put refuses what the rules refuse, with the reason")
    func putRefuses() throws {
        try withTemporaryDirectory { dir in
            let store = try dir.openStore()
            let refused: [[UInt8]] = [
                Array(("{\"a\":" + String(repeating: "[", count: 512) + String(repeating: "]", count: 512) + "}").utf8),
                [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D],
                Array(#"{"a":"\ud800"}"#.utf8), Array("[1]".utf8), Array("null".utf8), [0x7B, 0x7D, 0x00],
            ]
            for body in refused {
                #expect(throws: StoreError.self) {
                    try store.write { try $0.save(IncomingDocument(json: body), id: "x") }
                }
            }
            #expect(try store.info().documentCount == 0)
        }
    }

    /// A schema version 1 file, as bgsync wrote it before the triggers knew every rule.
    static func makeVersion1File(_ path: String) throws {
        let sql = Schema.version1 + "\nPRAGMA user_version = 1; PRAGMA application_id = \(Schema.applicationID); PRAGMA journal_mode = WAL;\n"
        let result = try Subprocess.sqlite(path, sql)
        try #require(result.status == 0, "\(result.stderr)")
    }

    @Test("a version 1 file: migrated to the current version on a writing open; its poison documents are reported by openRevisions, not sent")
    func migration() throws {
        try withTemporaryDirectory { dir in
            let path = dir.path("v1.sqlite")
            try Self.makeVersion1File(path)
            // Version 1's triggers let these through.
            let deep = "{\"a\":" + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}"
            _ = try Subprocess.query(path, """
                INSERT INTO documents (id, body) VALUES ('deep', '\(deep)');
                INSERT INTO documents (id, body) VALUES ('latin1', CAST(X'7B2261223A22E9227D' AS TEXT));
                INSERT INTO documents (id, body) VALUES ('good', '{"a":1}');
                """)
            // A read-only open reads a version 1 file as it is.
            let readOnly = try DocumentStore.open(at: path, mode: .readOnly)
            #expect(try readOnly.info().documentCount == 3)
            #expect(try Subprocess.query(path, "PRAGMA user_version") == "1")

            let store = try DocumentStore.open(at: path)
            #expect(try Subprocess.query(path, "PRAGMA user_version") == "\(Schema.currentVersion)")
            let refused = try Subprocess.sqlite(path, "INSERT INTO documents (id, body) VALUES ('deep2', '\(deep)');")
            #expect(refused.status != 0 && refused.stderr.contains("bgsync: documents.body is nested more than 512 levels deep"), "\(refused.stderr)")
            for id in ["deep", "latin1"] {
                let results = try store.read { tx in try tx.openRevisions(id, revs: nil) }
                guard results.count == 1, case .invalid(_, let reason) = results[0] else {
                    Issue.record("\(id): \(results)")
                    continue
                }
                #expect(reason.contains(id == "deep" ? "nesting depth" : "UTF-8"), "\(reason)")
            }
            guard case .ok? = try store.read({ tx in try tx.openRevisions("good", revs: nil) }).first else {
                Issue.record("good is not readable")
                return
            }
            // DELETE clears a bad document: the tombstone has an empty body.
            _ = try Subprocess.query(path, "DELETE FROM documents WHERE id = 'deep';")
            guard case .ok? = try store.read({ tx in try tx.openRevisions("deep", revs: nil) }).first else {
                Issue.record("the tombstone of deep is not readable")
                return
            }
        }
    }

    @Test("a database in a directory nobody may write (read-only media) opens read-only",
          .enabled(if: DocumentRulesTests.canMakeImmutable, "as root, needs chattr +i on the temporary directory's filesystem"))
    func readOnlyMedia() throws {
        try withTemporaryDirectory { dir in
            let media = dir.path("media")
            try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
            let path = media + "/notes.sqlite"
            do {
                let store = try DocumentStore.open(at: path)
                try store.write { _ = try $0.put(id: "n1", json: #"{"a":1}"#) }
            }
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the last connection closed removes the WAL")
            try Self.setImmutable(media, true)
            defer { try? Self.setImmutable(media, false) }
            let store = try DocumentStore.open(at: path, mode: .readOnly)
            #expect(try store.info().documentCount == 1)
            #expect(try store.document("n1").contains(#""a":1"#))
        }
    }

    /// Whether this process can make a directory unwritable: any user but root with a mode,
    /// root only with `chattr +i` (root ignores modes).
    static let canMakeImmutable: Bool = {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chattr") else { return geteuid() != 0 }
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-immutable-\(UUID().uuidString)").path
        guard (try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard (try? setImmutable(probe, true)) != nil else { return false }
        return (try? setImmutable(probe, false)) != nil
    }()

    static func setImmutable(_ path: String, _ on: Bool) throws {
        if geteuid() == 0 {
            let result = try TestProcess.run("/usr/bin/chattr", [on ? "+i" : "-i", path])
            if result.status != 0 { throw SubprocessFailure(description: "chattr: \(result.stderr)") }
        } else {
            try FileManager.default.setAttributes([.posixPermissions: on ? 0o555 : 0o755], ofItemAtPath: path)
        }
    }
}
