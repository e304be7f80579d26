import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Output shapes scripts rely on (issue 13.4 and 13.6): `--json` objects, tab-separated rows,
/// ids starting with `-`, `check`'s report, the crontab line.
@Suite("Output contracts")
struct OutputContractTests {
    @Test("run --json: sequences are strings, pull and push always present, reason_code unless synced, a job that failed to load goes by its stem")
    func runJSON() async throws {
        let (sandbox, job) = try JobSandbox.withLocalHub()
        defer { sandbox.remove() }
        let synced = try JSONValue.parse(try await sandbox.bgsync(["run", job, "--json"]).stdout)
        #expect(synced["outcome"]?.stringValue == "synced")
        #expect(synced["reason_code"] == nil)
        for direction in ["pull", "push"] {
            for key in ["start_seq", "last_seq"] {
                #expect(synced[direction]?[key]?.stringValue != nil, "\(direction).\(key): \(synced.serialized)")
            }
        }
        #expect(synced["pull"]?["last_seq"]?.stringValue == "3")

        // History in the state database: the same shape.
        let history = try await sandbox.bgsync(["status", "--json", "--history", "1"])
        let result = try JSONValue.parse(history.stdout).arrayValue?.first?["history"]?.arrayValue?.first?["result"]
        #expect(result?["pull"]?["last_seq"]?.stringValue == "3", "\(history.stdout)")

        try sandbox.write("broken.toml", "factory = \"main\"\n[schedule]\ninterval = \"soon\"\n")
        let broken = try await sandbox.bgsync(["run", sandbox.root + "/broken.toml", "--json"])
        #expect(broken.status == 78)
        let failed = try JSONValue.parse(broken.stdout)
        #expect(failed["tag"]?.stringValue == "broken")
        #expect(failed["outcome"]?.stringValue == "failed")
        #expect(failed["reason_code"]?.stringValue == "configuration")
        #expect(failed["pull"] == JSONValue.null && failed["push"] == JSONValue.null, "\(broken.stdout)")
    }

    @Test("sync --json: a direction not run is null; a failure has reason and reason_code")
    func syncJSON() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let hub = sandbox.root + "/data/hub.sqlite"
        let store = try DocumentStore.open(at: hub)
        try store.write { tx in _ = try tx.put(id: "a", json: "{}") }
        let pulled = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", hub, "--pull-only", "--json"], stateDir: false)
        #expect(pulled.status == 0, "\(pulled.stderr)")
        let object = try JSONValue.parse(pulled.stdout)
        #expect(object["push"] == JSONValue.null && object["pull"]?["last_seq"]?.stringValue == "1", "\(pulled.stdout)")
        #expect(object["pull"]?["start_seq"]?.stringValue == "0")

        let failed = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", "gopher://x/db", "--json"], stateDir: false)
        #expect(failed.status == 64)
        let failure = try JSONValue.parse(failed.stdout)
        #expect(failure["outcome"]?.stringValue == "failed" && failure["reason_code"]?.stringValue == "usage", "\(failed.stdout)")
        #expect(failure["pull"] == JSONValue.null && failure["push"] == JSONValue.null)
    }

    @Test("db ls and changes escape tabs, newlines and backslashes in ids; an id starting with - follows --")
    func tabSeparated() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let db = sandbox.root + "/data/db.sqlite"
        let body = try sandbox.write("body.json", "{}")
        for id in ["a\tb", "c\nd", "e\\f", "-dash", "--double"] {
            let put = try await sandbox.bgsync(["db", db, "put", "--", id, body], stateDir: false)
            #expect(put.status == 0, "\(id): \(put.stderr)")
        }
        let ls = try await sandbox.bgsync(["db", db, "ls"], stateDir: false)
        let ids = ls.stdout.split(separator: "\n").map { $0.split(separator: "\t").first.map(String.init) ?? "" }
        #expect(ids == ["--double", "-dash", "a\\tb", "c\\nd", "e\\\\f"], "\(ls.stdout)")
        let changes = try await sandbox.bgsync(["db", db, "changes"], stateDir: false)
        let rows = changes.stdout.split(separator: "\n")
        #expect(rows.count == 5 && rows.allSatisfy { $0.split(separator: "\t").count == 3 }, "\(changes.stdout)")
        #expect(rows.map { String($0.split(separator: "\t")[1]) } == ["a\\tb", "c\\nd", "e\\\\f", "-dash", "--double"])
        // JSON output keeps ids as they are.
        let json = try JSONValue.parse(try await sandbox.bgsync(["db", db, "ls", "--json"], stateDir: false).stdout)
        #expect(json.arrayValue?.compactMap { $0["id"]?.stringValue }.contains("a\tb") == true)

        let get = try await sandbox.bgsync(["db", db, "get", "--", "-dash"], stateDir: false)
        #expect(get.status == 0 && get.stdout.contains(#""_id":"-dash""#), "\(get.stderr)")
        let rm = try await sandbox.bgsync(["db", db, "rm", "--", "-dash"], stateDir: false)
        #expect(rm.status == 0, "\(rm.stderr)")
        let withoutSeparator = try await sandbox.bgsync(["db", db, "get", "--double"], stateDir: false)
        #expect(withoutSeparator.status == 64, "an option-like id without -- is a usage error: \(withoutSeparator.stderr)")
    }

    @Test("check prints every problem it finds and shows the parsed schedule, backoff and max_delete")
    func checkReport() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: "ftp://example.com/db")
        let job = try sandbox.job(body: """
            max_delete = "10%"
            intervall = "1h"
            [schedule]
            interval = "soon"
            flex = "5m"
            [constraints]
            network = "wifi"
            [backoff]
            policy = "linear"
            delay = "1m"
            max = "2h"
            """)
        let check = try await sandbox.bgsync(["check", job])
        #expect(check.status == 78)
        let lines = check.stderr.split(separator: "\n")
        #expect(lines.count == 4, "\(check.stderr)")
        for expected in ["intervall", "[schedule] interval", "[constraints] network", "unsupported remote"] {
            #expect(check.stderr.contains(expected), "\(expected): \(check.stderr)")
        }
        #expect(check.stdout.contains("job: invalid, 4 problems"), "\(check.stdout)")
        #expect(check.stdout.contains("backoff:    linear, delay 1m, max 2h"), "\(check.stdout)")
        #expect(check.stdout.contains("max_delete: 10 %"), "\(check.stdout)")

        try sandbox.registry(remote: "file:data/hub.sqlite")
        try sandbox.job(body: "max_delete = 200\n[schedule]\ninterval = \"12h\"\nflex = \"1h\"\ntimeout = \"10m\"\n")
        let valid = try await sandbox.bgsync(["check", job])
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stdout.contains("job: valid"))
        #expect(valid.stdout.contains("schedule:   interval 12h, flex 1h, timeout 10m"), "\(valid.stdout)")
        #expect(valid.stdout.contains("backoff:    exponential, delay 30s, max 5h"), "\(valid.stdout)")
        #expect(valid.stdout.contains("max_delete: 200 documents"), "\(valid.stdout)")
        let json = try JSONValue.parse(try await sandbox.bgsync(["check", job, "--json"]).stdout)
        #expect(json["valid"] == JSONValue.bool(true) && json["problems"]?.arrayValue?.isEmpty == true)
        #expect(json["schedule"]?["interval"]?.stringValue == "12h" && json["backoff"]?["max"]?.stringValue == "5h")
        #expect(json["max_delete"]?.stringValue == "200 documents")
    }

    @Test("schedule --cron quotes the bgsync path for the shell")
    func cronQuoting() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.write(".config/bgsync/jobs/notes.toml", "factory = \"main\"\n")
        let crontab = sandbox.root + "/crontab"
        let run = try await sandbox.bgsync(["schedule", "notes", "--every", "1h", "--cron", "--crontab-file", crontab,
                                            "--bgsync-path", "/opt/my tools/bgsync"], stateDir: false)
        #expect(run.status == 0, "\(run.stderr)")
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: crontab)), as: UTF8.self)
        #expect(text.contains(" '/opt/my tools/bgsync' run "), "\(text)")
    }
}
