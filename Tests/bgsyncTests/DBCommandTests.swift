import BGSyncTestSupport
import Foundation
import Testing

/// The `bgsync db` command line, run as a user runs it: the built binary as a child process.
@Suite("bgsync db")
struct DBCommandTests {
    // MARK: Running the binary

    /// The `bgsync` executable built beside this test bundle.
    ///
    /// Found in the products directory that holds the test runner (`swift test`, with or
    /// without `--scratch-path`), else `.build/debug` of this package; `BGSYNC_BINARY` overrides.
    static let binary: String? = {
        var candidates: [String] = []
        if let override = ProcessInfo.processInfo.environment["BGSYNC_BINARY"] { candidates.append(override) }
        var directories: [URL] = []
        if let executable = Bundle.main.executableURL { directories.append(executable.resolvingSymlinksInPath().deletingLastPathComponent()) }
        directories.append(URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent())
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            directories.append(URL(fileURLWithPath: exe).deletingLastPathComponent())
        }
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            // macOS: PRODUCTS/bgsyncPackageTests.xctest/Contents/MacOS/…
            directories.append(bundle.bundleURL.deletingLastPathComponent())
        }
        let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        directories.append(package.appendingPathComponent(".build/debug"))
        candidates += directories.map { $0.appendingPathComponent("bgsync").path }
        return candidates.first { path in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                && FileManager.default.isExecutableFile(atPath: path)
        }
    }()

    /// A finished `bgsync`: exit status (128 + signal when one ended it), stdout and stderr.
    typealias Run = TestProcess.Result

    /// Runs `bgsync ARGUMENTS` with `input` on standard input (an empty file when nil).
    static func bgsync(_ arguments: [String], input: String? = nil) throws -> Run {
        let binary = try #require(Self.binary, "the bgsync executable was not found next to the tests; build it first")
        return try TestProcess.run(binary, arguments, input: Array((input ?? "").utf8))
    }

    /// `bgsync db PATH ARGUMENTS`.
    static func db(_ path: String, _ arguments: String..., input: String? = nil) throws -> Run {
        try bgsync(["db", path] + arguments, input: input)
    }

    /// Runs `bgsync db PATH ARGUMENTS`, expecting success; returns standard output without its
    /// final newline.
    static func ok(_ path: String, _ arguments: String..., input: String? = nil,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let run = try bgsync(["db", path] + arguments, input: input)
        #expect(run.status == 0, "bgsync db \(arguments.joined(separator: " ")): \(run.stderr)", sourceLocation: sourceLocation)
        return run.stdout.hasSuffix("\n") ? String(run.stdout.dropLast()) : run.stdout
    }

    /// The revision in a `{"ok":true,"id":…,"rev":…}` line.
    static func revision(of okLine: String) throws -> String {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(okLine.utf8)) as? [String: Any])
        return try #require(object["rev"] as? String)
    }

    /// A fresh directory, removed afterwards.
    static func withDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-cli-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: url) }
        return try body(url)
    }

    static func sqlite3(_ database: String, _ sql: String) throws -> Int32 {
        let shell = FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") ? "/usr/bin/sqlite3" : "/usr/local/bin/sqlite3"
        return try TestProcess.run(shell, [database, sql], stdout: .discard, stderr: .discard).status
    }

    static func isCouchRev(_ rev: String, generation: Int) -> Bool {
        let parts = rev.split(separator: "-", maxSplits: 1)
        return parts.count == 2 && parts[0] == "\(generation)" && parts[1].utf8.count == 32
            && parts[1].utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    // MARK: Tests

    @Test("the bgsync executable is found next to the tests")
    func binaryFound() throws {
        let binary = try #require(Self.binary)
        let run = try Self.bgsync(["--version"])
        #expect(run.status == 0, "\(binary): \(run.stderr)")
    }

    @Test("put prints {\"ok\":true,\"id\":…,\"rev\":…} and creates the database")
    func put() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("new.sqlite").path
            #expect(!FileManager.default.fileExists(atPath: path))
            let line = try Self.ok(path, "put", "doc1", input: #"{"a": 1}"#)
            let rev = try Self.revision(of: line)
            #expect(Self.isCouchRev(rev, generation: 1))
            #expect(line == #"{"ok":true,"id":"doc1","rev":"\#(rev)"}"#)
            #expect(FileManager.default.fileExists(atPath: path))
            #expect(try Self.ok(path, "get", "doc1") == #"{"_id":"doc1","_rev":"\#(rev)","a": 1}"#)
            // From a file, and with the base revision in the body.
            let body = dir.appendingPathComponent("body.json")
            try Data(#"{"_rev":"\#(rev)","a":2}"#.utf8).write(to: body)
            let second = try Self.revision(of: try Self.ok(path, "put", "doc1", body.path))
            #expect(Self.isCouchRev(second, generation: 2))
            #expect(try Self.ok(path, "get", "doc1") == #"{"_id":"doc1","_rev":"\#(second)","a":2}"#)
            #expect(try Self.ok(path, "get", "doc1", "--rev", second, "--revs")
                == #"{"_id":"doc1","_rev":"\#(second)","a":2,"_revisions":{"start":2,"ids":["\#(second.dropFirst(2))","\#(rev.dropFirst(2))"]}}"#)
            // Only leaves keep their bodies (as in CouchDB after compaction).
            #expect(try Self.db(path, "get", "doc1", "--rev", rev).status == 1)
        }
    }

    @Test("get of a missing document exits 1 with not_found on stderr")
    func getMissingDocument() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            _ = try Self.ok(path, "put", "doc1", input: "{}")
            let run = try Self.db(path, "get", "nothing")
            #expect(run.status == 1)
            #expect(run.stderr.contains("not_found"))
            #expect(run.stdout.isEmpty)
            let badRev = try Self.db(path, "get", "doc1", "--rev", "1-abc")
            #expect(badRev.status == 1)
            #expect(badRev.stderr.contains("not_found"))
        }
    }

    @Test("reading commands on a missing file exit 66 and create nothing",
          arguments: [["get", "doc1"], ["info"], ["ls"], ["changes"], ["conflicts"], ["rm", "doc1"]])
    func missingFile(arguments: [String]) throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("missing.sqlite").path
            let run = try Self.bgsync(["db", path] + arguments)
            #expect(run.status == 66)
            #expect(run.stderr.contains("missing.sqlite"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        }
    }

    @Test("a file that is not a bgsync database exits 74 and is left byte for byte unchanged",
          arguments: ["random bytes", "foreign SQLite"])
    func notABGSyncFile(kind: String) throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("file.sqlite").path
            if kind == "random bytes" {
                var generator = SystemRandomNumberGenerator()
                try Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: URL(fileURLWithPath: path))
            } else {
                #expect(try Self.sqlite3(path, "CREATE TABLE mine (x TEXT); INSERT INTO mine VALUES ('precious');") == 0)
            }
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let listing = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            for arguments in [["get", "doc1"], ["put", "doc1"], ["info"], ["ls"], ["changes", "--json"], ["rm", "doc1"], ["conflicts"]] {
                let run = try Self.bgsync(["db", path] + arguments, input: #"{"a":1}"#)
                #expect(run.status == 74, "\(arguments): \(run.stderr)")
                #expect(run.stderr.contains("file.sqlite"), "\(arguments): \(run.stderr)")
                #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(arguments)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == listing)
        }
    }

    @Test("a stale or missing base revision exits 1 with conflict")
    func conflict() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let first = try Self.revision(of: try Self.ok(path, "put", "doc1", input: #"{"a":1}"#))
            _ = try Self.ok(path, "put", "doc1", input: #"{"_rev":"\#(first)","a":2}"#)
            for body in [#"{"_rev":"\#(first)","a":3}"#, #"{"a":3}"#] {
                let run = try Self.db(path, "put", "doc1", input: body)
                #expect(run.status == 1)
                #expect(run.stderr.contains("conflict"))
                #expect(run.stdout.isEmpty)
            }
            let onMissing = try Self.db(path, "put", "other", input: #"{"_rev":"1-abc"}"#)
            #expect(onMissing.status == 1)
            #expect(onMissing.stderr.contains("conflict"))
        }
    }

    @Test("a malformed body or id exits 65 and writes nothing",
          arguments: [(id: "doc1", body: #"{"a":"#), (id: "doc1", body: "[1]"), (id: "doc1", body: ""), (id: "doc1", body: #"{"_foo":1}"#),
                      (id: "_foo", body: "{}"), (id: "doc1", body: #"{"_revisions":{"start":1,"ids":["a","b"]}}"#)])
    func malformed(input: (id: String, body: String)) throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            _ = try Self.ok(path, "put", "keep", input: "{}")
            let run = try Self.db(path, "put", input.id, input: input.body)
            #expect(run.status == 65, "\(run.stderr)")
            #expect(!run.stderr.isEmpty)
            let changes = try Self.ok(path, "changes")
            #expect(changes.split(separator: "\n").count == 1)
        }
    }

    @Test("put --new-edits false stores _revisions as given; get matches CouchDB's transcript exactly")
    func replicatedTranscript() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let documents = [
                #"{"_id":"c1","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","1111"]},"v":"a"}"#,
                #"{"_id":"c1","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","1111"]},"v":"b"}"#,
                #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#,
            ]
            for (document, rev) in zip(documents, ["2-aaaa", "2-bbbb", "3-cccc"]) {
                #expect(try Self.ok(path, "put", "c1", "--new-edits", "false", input: document) == #"{"ok":true,"id":"c1","rev":"\#(rev)"}"#)
            }
            // "Winner, conflicts, deleted conflicts, _revisions"
            #expect(try Self.ok(path, "get", "c1", "--revs", "--conflicts", "--deleted-conflicts")
                == #"{"_id":"c1","_rev":"2-aaaa","v":"a","_revisions":{"start":2,"ids":["aaaa","1111"]},"_deleted_conflicts":["3-cccc"]}"#)
            #expect(try Self.ok(path, "get", "c1", "--rev", "3-cccc", "--revs")
                == #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#)
            #expect(try Self.ok(path, "get", "c1") == #"{"_id":"c1","_rev":"2-aaaa","v":"a"}"#)
            // Sending the same revision again is accepted and changes nothing.
            _ = try Self.ok(path, "put", "c1", "--new-edits", "false", input: documents[0])
            #expect(try Self.ok(path, "changes") == "3\tc1\t2-aaaa,3-cccc")
            let noRev = try Self.db(path, "put", "c2", "--new-edits", "false", input: #"{"v":1}"#)
            #expect(noRev.status == 65)
        }
    }

    @Test("ls lists ids and winning revisions; --json prints an array; --deleted adds tombstones")
    func list() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let b = try Self.revision(of: try Self.ok(path, "put", "b", input: "{}"))
            let a = try Self.revision(of: try Self.ok(path, "put", "a", input: #"{"x":1}"#))
            let gone = try Self.revision(of: try Self.ok(path, "put", "gone", input: "{}"))
            let tombstone = try Self.revision(of: try Self.ok(path, "rm", "gone", "--rev", gone))
            #expect(Self.isCouchRev(tombstone, generation: 2))
            #expect(try Self.ok(path, "ls") == "a\t\(a)\nb\t\(b)")
            #expect(try Self.ok(path, "ls", "--json") == #"[{"id":"a","rev":"\#(a)"},{"id":"b","rev":"\#(b)"}]"#)
            #expect(try Self.ok(path, "ls", "--json", "--deleted")
                == #"[{"id":"a","rev":"\#(a)"},{"id":"b","rev":"\#(b)"},{"id":"gone","rev":"\#(tombstone)","deleted":true}]"#)
            let deleted = try Self.db(path, "get", "gone")
            #expect(deleted.status == 1)
            #expect(deleted.stderr.contains("not_found"))
            #expect(deleted.stderr.contains("deleted"))
        }
    }

    @Test("changes --json prints CouchDB's shape: results, last_seq, pending; sequences as strings")
    func changes() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let first = try Self.revision(of: try Self.ok(path, "put", "doc1", input: #"{"a":1}"#))
            let second = try Self.revision(of: try Self.ok(path, "put", "doc1", input: #"{"_rev":"\#(first)","a":2}"#))
            for document in [
                #"{"_id":"c1","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","1111"]},"v":"a"}"#,
                #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#,
            ] {
                _ = try Self.ok(path, "put", "c1", "--new-edits", "false", input: document)
            }
            let tombstone = try Self.revision(of: try Self.ok(path, "rm", "doc1"))
            let att = try Self.revision(of: try Self.ok(path, "put", "att", input: "{}"))
            let rows = [
                #"{"seq":"4","id":"c1","changes":[{"rev":"2-aaaa"},{"rev":"3-cccc"}]}"#,
                #"{"seq":"5","id":"doc1","changes":[{"rev":"\#(tombstone)"}],"deleted":true}"#,
                #"{"seq":"6","id":"att","changes":[{"rev":"\#(att)"}]}"#,
            ]
            #expect(second.hasPrefix("2-"))
            let all = try Self.ok(path, "changes", "--json")
            #expect(all == #"{"results":[\#(rows.joined(separator: ","))],"last_seq":"6","pending":0}"#)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(all.utf8)) as? [String: Any])
            #expect((object["results"] as? [Any])?.count == 3)
            #expect(try Self.ok(path, "changes", "--json", "--limit", "2")
                == #"{"results":[\#(rows[0]),\#(rows[1])],"last_seq":"5","pending":1}"#)
            #expect(try Self.ok(path, "changes", "--json", "--since", "4")
                == #"{"results":[\#(rows[1]),\#(rows[2])],"last_seq":"6","pending":0}"#)
            #expect(try Self.ok(path, "changes", "--json", "--since", "6") == #"{"results":[],"last_seq":"6","pending":0}"#)
            #expect(try Self.ok(path, "changes") == "4\tc1\t2-aaaa,3-cccc\n5\tdoc1\t\(tombstone)\tdeleted\n6\tatt\t\(att)")
        }
    }

    @Test("conflicts prints each conflicted document's winner and losers")
    func conflictsOutput() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            for document in [
                #"{"_id":"c1","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","1111"]},"v":"a"}"#,
                #"{"_id":"c1","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","1111"]},"v":"b"}"#,
                #"{"_id":"c1","_rev":"3-cccc","_deleted":true,"_revisions":{"start":3,"ids":["cccc","bbbb","1111"]}}"#,
                #"{"_id":"c2","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","1111"]}}"#,
                #"{"_id":"c2","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","1111"]}}"#,
            ] {
                let id = document.contains(#""c1""#) ? "c1" : "c2"
                _ = try Self.ok(path, "put", id, "--new-edits", "false", input: document)
            }
            _ = try Self.ok(path, "put", "plain", input: "{}")
            #expect(try Self.ok(path, "conflicts", "--json")
                == #"[{"id":"c1","rev":"2-aaaa","_conflicts":[],"_deleted_conflicts":["3-cccc"]},{"id":"c2","rev":"2-bbbb","_conflicts":["2-aaaa"],"_deleted_conflicts":[]}]"#)
            #expect(try Self.ok(path, "conflicts") == "c1\t2-aaaa\tdeleted conflicts: 3-cccc\nc2\t2-bbbb\tconflicts: 2-aaaa")
            #expect(try Self.ok(path, "get", "c2", "--conflicts") == #"{"_id":"c2","_rev":"2-bbbb","_conflicts":["2-aaaa"]}"#)
        }
    }

    @Test("get prints bodies as stored: numbers, escapes and key order unchanged",
          arguments: [
              #""big":12345678901234567890,"one":1.0,"small":1e-7,"negzero":-0.0"#,
              #""e":"\u00e9","emoji":"\ud83d\ude00","raw":"é😀""#,
              #""z":1,"a":{"y":[3,2,1],"b":{"z":null,"a":true}},"A":false"#,
          ])
    func jsonFidelity(members: String) throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let rev = try Self.revision(of: try Self.ok(path, "put", "doc", input: "{\(members)}"))
            #expect(try Self.ok(path, "get", "doc") == #"{"_id":"doc","_rev":"\#(rev)",\#(members)}"#)
            _ = try Self.ok(path, "put", "rep", "--new-edits", "false",
                            input: #"{"_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","aaaa"]},\#(members)}"#)
            #expect(try Self.ok(path, "get", "rep", "--revs")
                == #"{"_id":"rep","_rev":"2-bbbb",\#(members),"_revisions":{"start":2,"ids":["bbbb","aaaa"]}}"#)
        }
    }

    @Test("info prints the database's facts; --json as one object")
    func info() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            _ = try Self.ok(path, "put", "a", input: "{}")
            _ = try Self.ok(path, "put", "b", input: "{}")
            _ = try Self.ok(path, "rm", "b")
            let json = try Self.ok(path, "info", "--json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(object["doc_count"] as? Int == 1)
            #expect(object["doc_del_count"] as? Int == 1)
            #expect(object["update_seq"] as? String == "3")  // a string, as CouchDB 2+ sends it
            #expect(object["revs_limit"] as? Int == 1000)
            #expect((object["uuid"] as? String)?.count == 32)
            #expect(object["path"] as? String == path)
            #expect(try Self.ok(path, "info").contains("update_seq:    3"))
        }
    }

    @Test("_local documents are written and read by their _local/ id")
    func localDocuments() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            #expect(try Self.ok(path, "put", "_local/ckpt", input: #"{"session_id":"s1","source_last_seq":"5-xyz","history":[]}"#)
                == #"{"ok":true,"id":"_local/ckpt","rev":"0-1"}"#)
            #expect(try Self.ok(path, "get", "_local/ckpt") == #"{"_id":"_local/ckpt","_rev":"0-1","session_id":"s1","source_last_seq":"5-xyz","history":[]}"#)
            #expect(try Self.ok(path, "changes", "--json") == #"{"results":[],"last_seq":"0","pending":0}"#)
            _ = try Self.ok(path, "rm", "_local/ckpt")
            #expect(try Self.db(path, "get", "_local/ckpt").status == 1)
        }
    }

    @Test("an unknown action is a usage error (64)")
    func unknownAction() throws {
        try Self.withDirectory { dir in
            let path = dir.appendingPathComponent("db.sqlite").path
            let run = try Self.db(path, "frobnicate")
            #expect(run.status == 64)
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }
}
