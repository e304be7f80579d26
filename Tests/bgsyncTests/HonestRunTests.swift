import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// Issue 12, points 3–5, on the real binary: a dry run changes nothing, the state tells the
/// truth, and errors are printed once, journald-aware, without doubled text.
/// Serialized: child processes run against a fixture server in this process.
@Suite("bgsync honest runs", .serialized)
struct HonestRunTests {
    // MARK: Helpers

    func localSandbox(documents: Int = 3, jobBody: String = "") throws -> (JobSandbox, String) {
        try JobSandbox.withLocalHub(documents: documents, jobBody: jobBody)
    }

    func documentIDs(_ path: String) throws -> [String] {
        try DocumentStore.open(at: path, mode: .readOnly).read { try $0.allDocuments().map(\.id) }
    }

    /// The store's local documents (where checkpoints live), id → body.
    func localDocuments(_ path: String) throws -> [String: String] {
        try DocumentStore.open(at: path, mode: .readOnly).read { tx in
            var documents: [String: String] = [:]
            for id in try tx.localDocumentIDs() { documents[id] = try tx.localDocument(id) }
            return documents
        }
    }

    /// Runs `bgsync ARGUMENTS --state-dir STATE` with stderr to a new file whose `dev:inode`
    /// is in `JOURNAL_STREAM`, as under systemd; returns the exit status and stderr.
    func runUnderJournal(_ sandbox: JobSandbox, _ arguments: [String]) async throws -> (status: Int32, stderr: String) {
        let binary = try #require(DBCommandTests.binary)
        let stderrPath = sandbox.root + "/journal-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        var info = stat()
        try #require(stat(stderrPath, &info) == 0)
        var environment = sandbox.environment
        environment["JOURNAL_STREAM"] = "\(info.st_dev):\(info.st_ino)"
        let ended = try await TestProcess(binary, arguments + ["--state-dir", sandbox.state], environment: environment,
                                          stdout: .discard, stderr: .file(stderrPath)).finish()
        return (ended.status, try String(contentsOfFile: stderrPath, encoding: .utf8))
    }

    /// Everything `status` shows, human and JSON, with history.
    func statusSnapshot(_ sandbox: JobSandbox, stateDir: String? = nil) async throws -> String {
        let directory = stateDir.map { ["--state-dir", $0] } ?? []
        let human = try await sandbox.bgsync(["status", "--history", "20"] + directory, stateDir: stateDir == nil)
        let json = try await sandbox.bgsync(["status", "--json", "--history", "20"] + directory, stateDir: stateDir == nil)
        return "\(human.status)\n\(human.stdout)\n\(json.status)\n\(json.stdout)"
    }

    /// A hook that records that it ran (it reads its stdin first).
    func recordingHook(_ sandbox: JobSandbox) throws -> String {
        try sandbox.write("bin/record-hook", "#!/bin/sh\ncat >/dev/null\nprintf '%s\\n' \"$BGSYNC_OUTCOME\" >> \"$HOME/hook-ran\"\n", mode: 0o755)
    }

    // MARK: 3. A dry run changes nothing

    @Test("a first dry run creates nothing (state directory, database, metrics, hooks) and the real run after it is due")
    func dryRunFirst() async throws {
        let (sandbox, _) = try localSandbox()
        defer { sandbox.remove() }
        let hook = try recordingHook(sandbox)
        let job = try sandbox.job(body: """
            [schedule]
            interval = "1h"
            [metrics]
            textfile = "metrics.prom"
            [hooks]
            on_success = ["\(hook)"]
            on_skip = ["\(hook)"]
            on_failure = ["\(hook)"]
            """)
        let state = sandbox.root + "/fresh/state"
        let dry = try await sandbox.bgsync(["run", job, "--dry-run", "--json", "--state-dir", state], stateDir: false)
        #expect(dry.status == 0, "\(dry.stderr)")
        let result = try JSONValue.parse(dry.stdout)
        #expect(result["outcome"]?.stringValue == "synced")
        #expect(result["dry_run"]?.boolValue == true)
        #expect(result["pull"]?["missing_found"]?.intValue == 3)
        #expect(result["pull"]?["docs_written"]?.intValue == 0)
        #expect(result["would_create"]?.arrayValue?.compactMap(\.stringValue) == [sandbox.localStore])
        for path in [sandbox.root + "/fresh", sandbox.localStore, sandbox.root + "/metrics.prom", sandbox.root + "/hook-ran"] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) was created by a dry run")
        }
        let human = try await sandbox.bgsync(["run", job, "--dry-run", "--state-dir", state], stateDir: false)
        #expect(human.status == 0, "\(human.stderr)")
        #expect(human.stdout.contains("dry run, revisions to transfer: pull 3, push 0"), "\(human.stdout)")
        #expect(human.stdout.contains("would create \(sandbox.localStore)"), "\(human.stdout)")

        // The real run is not "not due": nothing was recorded.
        let real = try await sandbox.bgsync(["run", job, "--json", "--state-dir", state], stateDir: false)
        #expect(real.status == 0, "\(real.stderr)")
        #expect(try JSONValue.parse(real.stdout)["outcome"]?.stringValue == "synced")
        #expect(try JSONValue.parse(real.stdout)["pull"]?["docs_written"]?.intValue == 3)
        #expect(FileManager.default.fileExists(atPath: sandbox.root + "/metrics.prom"))
        #expect(try String(contentsOfFile: sandbox.root + "/hook-ran", encoding: .utf8) == "synced\n")
    }

    @Test("a dry run after real runs: status byte-identical, no document or checkpoint written, then the real run transfers")
    func dryRunLeavesStatus() async throws {
        let (sandbox, job) = try localSandbox(jobBody: "[schedule]\ninterval = \"1h\"\n")
        defer { sandbox.remove() }
        let hub = sandbox.root + "/data/hub.sqlite"
        #expect(try await sandbox.bgsync(["run", job]).status == 0)
        try DocumentStore.open(at: hub).write { _ = try $0.put(id: "new-remote", json: "{}") }
        try DocumentStore.open(at: sandbox.localStore).write { _ = try $0.put(id: "new-local", json: "{}") }
        let localBefore = try documentIDs(sandbox.localStore)
        let hubBefore = try documentIDs(hub)
        let localCheckpoints = try localDocuments(sandbox.localStore)
        let hubCheckpoints = try localDocuments(hub)
        #expect(!localCheckpoints.isEmpty && !hubCheckpoints.isEmpty)
        let before = try await statusSnapshot(sandbox)

        // Not due: the dry run says what a real run would do, and records no skip.
        let notDue = try await sandbox.bgsync(["run", job, "--dry-run", "--json"])
        #expect(notDue.status == 0, "\(notDue.stderr)")
        #expect(try JSONValue.parse(notDue.stdout)["reason_code"]?.stringValue == "not_due")
        // Forced: it reports the transfer.
        let dry = try await sandbox.bgsync(["run", job, "--dry-run", "--force", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let result = try JSONValue.parse(dry.stdout)
        #expect(result["pull"]?["missing_found"]?.intValue == 1)
        #expect(result["push"]?["missing_found"]?.intValue == 1)
        #expect(result["would_create"]?.arrayValue?.isEmpty == true)

        #expect(try await statusSnapshot(sandbox) == before)
        #expect(try documentIDs(sandbox.localStore) == localBefore)
        #expect(try documentIDs(hub) == hubBefore)
        // No checkpoint either (checkpoints are local documents).
        #expect(try localDocuments(sandbox.localStore) == localCheckpoints)
        #expect(try localDocuments(hub) == hubCheckpoints)

        let real = try await sandbox.bgsync(["run", job, "--force", "--json"])
        let counts = try JSONValue.parse(real.stdout)
        #expect(counts["pull"]?["docs_written"]?.intValue == 1 && counts["push"]?["docs_written"]?.intValue == 1, "\(real.stdout)")
    }

    @Test("a dry run never creates a missing file: remote; it fails as the real run would without create_target")
    func dryRunMissingRemote() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try sandbox.registry(remote: "file:data/backup.sqlite", extra: "direction = \"push\"")
        try DocumentStore.open(at: sandbox.localStore).write { _ = try $0.put(id: "a", json: "{}"); _ = try $0.put(id: "b", json: "{}") }
        let job = try sandbox.job()
        let refused = try await sandbox.bgsync(["run", job, "--dry-run", "--json"])
        #expect(refused.status == 66, "\(refused.stderr)")
        #expect(refused.stderr.contains("backup.sqlite: no such database file"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/data/backup.sqlite"))

        try sandbox.registry(remote: "file:data/backup.sqlite", extra: "direction = \"push\"\ncreate_target = true")
        let dry = try await sandbox.bgsync(["run", job, "--dry-run", "--json"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let result = try JSONValue.parse(dry.stdout)
        #expect(result["push"]?["missing_found"]?.intValue == 2)
        #expect(result["would_create"]?.arrayValue?.compactMap(\.stringValue) == [sandbox.root + "/data/backup.sqlite"])
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/data/backup.sqlite"))
        #expect(try await sandbox.status().isEmpty)
    }

    // MARK: 4. The state tells the truth

    @Test("a run skipped as already running keeps the job's last outcome; a dry run then skips too, recording nothing")
    func alreadyRunningKeepsOutcome() async throws {
        try await JobSandbox.withServer(documents: 20) { sandbox, server in
            try sandbox.registry(remote: server.url("db"), extra: "batch_size = 5\ndirection = \"pull\"")
            let job = try sandbox.job()
            #expect(try await sandbox.bgsync(["run", job]).status == 0)
            try server.database("db")?.write { tx in
                for i in 0..<20 { _ = try tx.put(id: String(format: "s%03d", i), json: "{}") }
            }
            // The changes feed is read one batch after another (fetches overlap): 5 × 1 s.
            server.inject(.delay(seconds: 1, path: .suffix("/_changes"), times: 100))
            let long = try sandbox.start(["run", job, "--force"])
            var running = false
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline && !running {
                running = try await sandbox.status().first?["state"]?.stringValue == "running"
                if !running { try await Task.sleep(nanoseconds: 50_000_000) }
            }
            #expect(running)
            let second = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(second.status == 0)
            #expect(try JSONValue.parse(second.stdout)["reason_code"]?.stringValue == "already_running")
            let dry = try await sandbox.bgsync(["run", job, "--force", "--dry-run", "--json"])
            #expect(try JSONValue.parse(dry.stdout)["reason_code"]?.stringValue == "already_running", "\(dry.stdout)")
            let during = try #require(try await sandbox.status().first)
            #expect(during["state"]?.stringValue == "running")
            #expect(during["last_outcome"]?.stringValue == "synced", "\(during)")
            #expect(during["last_reason"] == .null)
            let finished = try await long.finish()
            #expect(finished.status == 0, "\(finished.stderr)")
            let after = try #require(try await sandbox.status().first)
            #expect(after["last_outcome"]?.stringValue == "synced")
            // The history has the real skip (not the dry run's).
            let history = try await sandbox.bgsync(["status", "--json", "--history", "10"])
            let reasons = try JSONValue.parse(history.stdout).arrayValue?.first?["history"]?.arrayValue?.compactMap { $0["reason"]?.stringValue } ?? []
            #expect(reasons.filter { $0.contains("already running") }.count == 1, "\(reasons)")
        }
    }

    @Test("a configuration error exits 78 on every run until fixed, never skipped as backing off or not due")
    func configurationErrorEveryRun() async throws {
        let (sandbox, _) = try localSandbox()
        defer { sandbox.remove() }
        let factory = try sandbox.write("bin/factory", "#!/bin/sh\ncat >/dev/null\necho 'not json'\n", mode: 0o755)
        try sandbox.write("registry.toml", """
            [factories.main]
            kind = "exec"
            command = ["\(factory)"]
            """)
        let job = try sandbox.job(body: "[schedule]\ninterval = \"1h\"\n[backoff]\ndelay = \"1h\"\n")
        for attempt in 0..<3 {
            let run = try await sandbox.bgsync(["run", job, "--json"])
            #expect(run.status == 78, "attempt \(attempt): \(run.stdout) \(run.stderr)")
            #expect(try JSONValue.parse(run.stdout)["outcome"]?.stringValue == "failed")
        }
        var status = try #require(try await sandbox.status().first { $0["tag"]?.stringValue == "job" })
        #expect(status["state"]?.stringValue == "failed" && status["consecutive_failures"]?.intValue == 0, "\(status)")
        // A declarative registry value that does not decode: the same.
        try sandbox.write("bad-registry.toml", "[factories.main]\ndatabase = \"data/local.sqlite\"\nremote = \"file:data/hub.sqlite\"\ndirection = \"sideways\"\n")
        let badValue = try sandbox.job("bad-value", body: "registry = \"bad-registry.toml\"\n[schedule]\ninterval = \"1h\"\n")
        for _ in 0..<2 {
            let run = try await sandbox.bgsync(["run", badValue])
            #expect(run.status == 78 && run.stderr.contains("sideways"), "\(run.stderr)")
        }
        #expect(status["next_eligible"] == .null)

        // Fixed: it syncs; then broken again after a success (interval 1 h): still reported.
        try sandbox.write("bin/factory", """
            #!/bin/sh
            cat >/dev/null
            echo '{"database": "\(sandbox.localStore)", "remote": "file:\(sandbox.root)/data/hub.sqlite"}'
            """, mode: 0o755)
        #expect(try await sandbox.bgsync(["run", job]).status == 0)
        try sandbox.write("bin/factory", "#!/bin/sh\ncat >/dev/null\nexit 4\n", mode: 0o755)
        #expect(try await sandbox.bgsync(["run", job, "--force"]).status == 78)
        let again = try await sandbox.bgsync(["run", job, "--json"])
        #expect(again.status == 78, "\(again.stdout)")
        status = try #require(try await sandbox.status().first { $0["tag"]?.stringValue == "job" })
        #expect(status["last_success"]?.stringValue != nil && status["consecutive_failures"]?.intValue == 0)
    }

    @Test("check writes nothing: no state directory (--state-dir or XDG_STATE_HOME), no database")
    func checkWritesNothing() async throws {
        let (sandbox, job) = try localSandbox()
        defer { sandbox.remove() }
        try FileManager.default.removeItem(atPath: sandbox.state)
        let explicit = sandbox.root + "/explicit/state"
        let check = try await sandbox.bgsync(["check", job, "--state-dir", explicit], stateDir: false)
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("due now"))
        let xdg = try await sandbox.bgsync(["check", job, "--json"], stateDir: false, extraEnvironment: ["XDG_STATE_HOME": sandbox.root + "/xdg"])
        #expect(xdg.status == 0, "\(xdg.stderr)")
        for path in [sandbox.root + "/explicit", sandbox.root + "/xdg", sandbox.root + "/.local", sandbox.state, sandbox.localStore] {
            #expect(!FileManager.default.fileExists(atPath: path), "\(path) was created by check")
        }
        // With a state: it reads it and leaves it as it was.
        #expect(try await sandbox.bgsync(["run", job]).status == 0)
        let before = try await statusSnapshot(sandbox)
        let checked = try await sandbox.bgsync(["check", job])
        #expect(checked.status == 0 && checked.stdout.contains("due now"), "\(checked.stderr)")
        #expect(try await statusSnapshot(sandbox) == before)
    }

    @Test("cancel and resume take a job by path, by name or by known tag; an unknown one exits 66 listing the known tags")
    func cancelResumeTakeJobs() async throws {
        let (sandbox, _) = try localSandbox()
        defer { sandbox.remove() }
        let config = sandbox.root + "/config"
        let named = try sandbox.write("config/bgsync/jobs/notes.toml", "registry = \"\(sandbox.root)/registry.toml\"\nfactory = \"main\"\ntag = \"notes-tag\"\n")
        let environment = ["XDG_CONFIG_HOME": config]

        // By path: the file's tag.
        let byPath = try await sandbox.bgsync(["cancel", named], extraEnvironment: environment)
        #expect(byPath.status == 0, "\(byPath.stderr)")
        #expect(byPath.stdout.hasPrefix("notes-tag: cancelled"))
        #expect(try await sandbox.status().first?["tag"]?.stringValue == "notes-tag")
        // By name in the jobs directory.
        let byName = try await sandbox.bgsync(["resume", "notes"], extraEnvironment: environment)
        #expect(byName.status == 0, "\(byName.stderr)")
        #expect(byName.stdout == "notes-tag: enabled\n")
        // By a tag the state knows, without a job file.
        try FileManager.default.removeItem(atPath: named)
        let byTag = try await sandbox.bgsync(["cancel", "notes-tag"], extraEnvironment: environment)
        #expect(byTag.status == 0, "\(byTag.stderr)")
        #expect(try await sandbox.status().first?["state"]?.stringValue == "cancelled")
        // Unknown: refused, listing the known tags; no phantom job.
        for command in ["cancel", "resume"] {
            let unknown = try await sandbox.bgsync([command, "notes-typo"], extraEnvironment: environment)
            #expect(unknown.status == 66, "\(unknown.stderr)")
            #expect(unknown.stderr.contains("notes-typo") && unknown.stderr.contains("known tags: notes-tag"), "\(unknown.stderr)")
            #expect(unknown.stderr.split(separator: "\n").count == 1, "\(unknown.stderr)")
        }
        #expect(try await sandbox.status().compactMap { $0["tag"]?.stringValue } == ["notes-tag"])
        // Without any state: nothing known, nothing created.
        let fresh = sandbox.root + "/no-state"
        let none = try await sandbox.bgsync(["cancel", "whatever", "--state-dir", fresh], stateDir: false)
        #expect(none.status == 66 && none.stderr.contains("known tags: none"), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fresh))
    }

    // MARK: 5. Errors read right

    /// A job whose local database is not a bgsync database: fails fast with 74.
    func brokenLocalSandbox() throws -> (JobSandbox, String) {
        let (sandbox, job) = try localSandbox()
        try sandbox.write("data/local.sqlite", "this is not an SQLite database, just text long enough to be read as a header......\n")
        return (sandbox, job)
    }

    @Test("a failed run prints its error once, on one line, naming the file, with no doubled prefix")
    func errorOnce() async throws {
        let (sandbox, job) = try brokenLocalSandbox()
        defer { sandbox.remove() }
        for arguments in [["run", job], ["run", job, "--json", "--force"], ["run", job, "--verbose", "--force"]] {
            let run = try await sandbox.bgsync(arguments)
            #expect(run.status == 74, "\(run.stderr)")
            let lines = run.stderr.split(separator: "\n").filter { $0.contains("local.sqlite") }
            #expect(lines.count == 1, "\(arguments): \(run.stderr)")
            let line = String(lines.first ?? "")
            #expect(line.hasPrefix("bgsync: error: job: failed: \(sandbox.localStore): "), "\(line)")
            #expect(!line.contains("job: job:") && !line.contains("failed: failed"))
            #expect(line.filter { $0 == "(" }.count == line.filter { $0 == ")" }.count, "\(line)")
        }
    }

    @Test("under journald the final error line has the <3> prefix (and only there)")
    func journaldError() async throws {
        let (sandbox, job) = try brokenLocalSandbox()
        defer { sandbox.remove() }
        let failed = try await runUnderJournal(sandbox, ["run", job])
        #expect(failed.status == 74)
        let lines = failed.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(failed.stderr)")
        #expect(lines.first?.hasPrefix("<3>job: failed: \(sandbox.localStore): ") == true, "\(failed.stderr)")
        #expect(!failed.stderr.contains("bgsync: error"))

        // An error before any job runs (a missing job file) goes the same way.
        let missing = try await runUnderJournal(sandbox, ["run", sandbox.root + "/nope.toml"])
        #expect(missing.status == 66)
        #expect(missing.stderr.hasPrefix("<3>\(sandbox.root)/nope.toml: no such job file"), "\(missing.stderr)")
    }
}
