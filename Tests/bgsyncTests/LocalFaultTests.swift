import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Local faults under `bgsync run`: a full disk, a read-only database, a state database locked
/// by another process, and run locks left behind by dead processes. Each ends with a clear
/// message and exit code in bounded time, leaves the databases intact, and the next run (once
/// the fault is gone) completes.
///
/// How the faults are made, as root in a container and as a plain user in CI:
/// * Disk full: a real small filesystem (tmpfs with `size=`) where `mount` is permitted (root
///   with CAP_SYS_ADMIN); everywhere, the file size limit `RLIMIT_FSIZE` (`prlimit --fsize`,
///   what systemd's `LimitFSIZE=` sets) with SIGXFSZ ignored, so that SQLite's writes fail with
///   EFBIG as they would with ENOSPC. SQLite's `max_page_count` was not used: it is a
///   per-connection setting that bgsync would have to be told about, which is not a product
///   option.
/// * Read-only database: root ignores file modes, so as root the file is made immutable
///   (`chattr +i`, where the filesystem supports it); as another user, mode 0444.
@Suite("local faults: disk full, read-only database, locks", .serialized)
struct LocalFaultTests {
    /// A sandbox with a fixture server holding database `db` with `documents` documents of
    /// `attachmentBytes` random bytes each, and a pull job.
    func withServerSandbox(documents: Int, attachmentBytes: Int = 0, extra: String = "",
                           _ body: (JobSandbox, FixtureServer, String) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer { server in
            let remote = try server.createDatabase("db")
            try await offPool {
                var rng = SeededRandom(seed: 7)
                try remote.write { tx in
                    for i in 0..<documents {
                        var json = #"{"n":\#(i)"#
                        if attachmentBytes > 0 {
                            let data = Data(MixedDataset.randomBytes(attachmentBytes, &rng)).base64EncodedString()
                            json += #","_attachments":{"blob.bin":{"content_type":"application/octet-stream","data":"\#(data)"}}"#
                        }
                        try tx.put(id: String(format: "r%04d", i), json: json + "}")
                    }
                }
            }
            try sandbox.registry(remote: server.url("db"), extra: "direction = \"pull\"\nbatch_size = 20\nmax_retries = 0\n" + extra)
            let job = try sandbox.job()
            try await body(sandbox, server, job)
        }
    }

    /// The local store holds nothing the remote does not (each of its documents as on the
    /// remote, whole), and the file is sound.
    func expectIntactSubset(_ sandbox: JobSandbox, _ server: FixtureServer, _ context: String) async throws {
        let (path, store) = (sandbox.localStore, try #require(server.database("db")))
        let (problems, differences) = try await offPool {
            let local = try StoreContents.read(try DocumentStore.open(at: path, mode: .readOnly))
            let remote = try StoreContents.read(store, ids: Set(local.documents.keys))
            return (try StoreFileCheck.problems(path), StoreContents.differences(local, remote))
        }
        #expect(problems == [], "\(context)")
        #expect(differences == [], "\(context)")
    }

    /// Both sides equal, every document.
    func expectConverged(_ sandbox: JobSandbox, _ server: FixtureServer, documents: Int) async throws {
        let (path, store) = (sandbox.localStore, try #require(server.database("db")))
        let (count, differences) = try await offPool {
            let local = try StoreContents.read(try DocumentStore.open(at: path, mode: .readOnly))
            return (local.documents.count, StoreContents.differences(local, try StoreContents.read(store)))
        }
        #expect(differences == [])
        #expect(count == documents)
    }

    // MARK: Disk full

    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN); false in most CI.
    static let canMount: Bool = {
        guard geteuid() == 0, let mount = findTool("/usr/bin/mount", "/bin/mount"), let umount = findTool("/usr/bin/umount", "/bin/umount") else {
            return false
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-mount-probe-\(UUID().uuidString)").path
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func run(_ program: String, _ arguments: [String]) -> Int32 {
            (try? TestProcess.run(program, arguments, stdout: .discard, stderr: .discard))?.status ?? -1
        }
        guard run(mount, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory]) == 0 else { return false }
        return run(umount, [directory]) == 0
    }()

    @Test("disk full on a small tmpfs: exit 74 naming the file, database intact, the next run with space completes",
          .enabled(if: LocalFaultTests.canMount, "needs permission to mount a tmpfs (root with CAP_SYS_ADMIN)"))
    func diskFullTmpfs() async throws {
        try await withServerSandbox(documents: 150, attachmentBytes: 16 * 1024) { sandbox, server, job in
            let data = sandbox.root + "/data"
            let mount = try #require(findTool("/usr/bin/mount", "/bin/mount"))
            let umount = try #require(findTool("/usr/bin/umount", "/bin/umount"))
            let mounted = try await runTool(mount, ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", data])
            try #require(mounted.status == 0, "mount: \(mounted.output)")
            do {
                let full = try await sandbox.bgsync(["run", job, "--json"])
                #expect(full.status == 74, "\(full.stdout) \(full.stderr)")
                let result = try JSONValue.parse(full.stdout)
                #expect(result["outcome"]?.stringValue == "failed")
                let reason = result["reason"]?.stringValue ?? ""
                #expect(reason.contains(sandbox.localStore) && reason.contains("disk full"), "\(reason)")
                try await expectIntactSubset(sandbox, server, "after the disk filled up")

                let grown = try await runTool(mount, ["-o", "remount,size=64m", data])
                try #require(grown.status == 0, "remount: \(grown.output)")
                let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
                #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
                try await expectConverged(sandbox, server, documents: 150)
            } catch {
                _ = try? await runTool(umount, [data])
                throw error
            }
            _ = try? await runTool(umount, [data])
        }
    }

    @Test("file size limit (RLIMIT_FSIZE) reached: exit 74, database intact, the next run without it completes",
          .enabled(if: findTool("/usr/bin/prlimit", "/bin/prlimit") != nil, "needs prlimit (util-linux)"))
    func fileSizeLimit() async throws {
        try await withServerSandbox(documents: 150, attachmentBytes: 16 * 1024) { sandbox, server, job in
            let prlimit = try #require(findTool("/usr/bin/prlimit", "/bin/prlimit"))
            // SIGXFSZ ignored, as a process under systemd's LimitFSIZE= would do to see EFBIG.
            let launcher = ["/bin/sh", "-c", "trap '' XFSZ; exec \"$@\"", "sh", prlimit, "--fsize=1048576", "--"]
            let limited = try await sandbox.bgsync(["run", job, "--json"], launcher: launcher)
            #expect(limited.status == 74, "\(limited.stdout) \(limited.stderr)")
            let result = try JSONValue.parse(limited.stdout)
            #expect(result["outcome"]?.stringValue == "failed")
            let reason = result["reason"]?.stringValue ?? ""
            // EFBIG, not ENOSPC: SQLite reports a failed write rather than a full disk.
            #expect(reason.contains(sandbox.localStore) && (reason.contains("cannot write") || reason.contains("disk full")), "\(reason)")
            try await expectIntactSubset(sandbox, server, "after the file size limit")
            let pulled = try DocumentStore.open(at: sandbox.localStore, mode: .readOnly).read { try $0.info().documentCount }
            #expect(pulled < 150)

            let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
            try await expectConverged(sandbox, server, documents: 150)
        }
    }

    // MARK: Read-only database

    /// Whether a file can be made unwritable for this process: as root only with `chattr +i`
    /// on a filesystem that supports it (the temporary directory's).
    static let canMakeReadOnly: Bool = {
        guard geteuid() == 0 else { return true }
        guard let chattr = findTool("/usr/bin/chattr", "/bin/chattr") else { return false }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-chattr-probe-\(UUID().uuidString)").path
        guard FileManager.default.createFile(atPath: file, contents: nil) else { return false }
        defer { try? FileManager.default.removeItem(atPath: file) }
        func run(_ flag: String) -> Int32 {
            (try? TestProcess.run(chattr, [flag, file], stdout: .discard, stderr: .discard))?.status ?? -1
        }
        guard run("+i") == 0 else { return false }
        return run("-i") == 0
    }()

    /// Makes `path` unwritable for bgsync (`chattr +i` as root, mode 0444 otherwise), or writable again.
    func setReadOnly(_ path: String, _ readOnly: Bool) async throws {
        if geteuid() == 0 {
            let chattr = try #require(findTool("/usr/bin/chattr", "/bin/chattr"))
            let result = try await runTool(chattr, [readOnly ? "+i" : "-i", path])
            try #require(result.status == 0, "chattr: \(result.output)")
        } else {
            try FileManager.default.setAttributes([.posixPermissions: readOnly ? 0o444 : 0o644], ofItemAtPath: path)
        }
    }

    @Test("a read-only local database: exit 74 saying so, nothing changed; writable again, the next run completes",
          .enabled(if: LocalFaultTests.canMakeReadOnly, "as root, needs chattr +i on the temporary directory's filesystem"))
    func readOnlyDatabase() async throws {
        try await withServerSandbox(documents: 30) { sandbox, server, job in
            let first = try await sandbox.bgsync(["run", job, "--json"])
            #expect(first.status == 0, "\(first.stderr)")
            try server.database("db")?.write { tx in
                for i in 30..<50 { try tx.put(id: String(format: "r%04d", i), json: #"{"n":\#(i)}"#) }
            }
            try await setReadOnly(sandbox.localStore, true)
            do {
                let refused = try await finish(sandbox.start(["run", job, "--force", "--json"]), killingAfter: 120)
                #expect(!refused.hung, "bgsync did not end on a read-only database")
                #expect(refused.run.status == 74, "\(refused.run.stdout) \(refused.run.stderr)")
                let reason = (try? JSONValue.parse(refused.run.stdout))?["reason"]?.stringValue ?? ""
                #expect(reason.contains(sandbox.localStore) && reason.contains("read-only"), "\(reason)")
            } catch {
                try await setReadOnly(sandbox.localStore, false)
                throw error
            }
            try await setReadOnly(sandbox.localStore, false)
            #expect(try DocumentStore.open(at: sandbox.localStore, mode: .readOnly).read { try $0.info().documentCount } == 30)
            try await expectIntactSubset(sandbox, server, "after the read-only run")
            let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
            try await expectConverged(sandbox, server, documents: 50)
        }
    }

    // MARK: Locks

    /// Runs the job while another connection holds `path`'s write lock (killed after 2 minutes).
    private func runWhileLocked(_ path: String, _ sandbox: JobSandbox, _ job: String) async throws -> (run: DBCommandTests.Run, hung: Bool) {
        let holder = try await SQLiteLockHolder(path: path)
        defer { holder.release() }
        return try await finish(sandbox.start(["run", job, "--force", "--json"]), killingAfter: 120)
    }

    @Test("a state database locked by another process: bgsync gives up after its busy timeout (exit 75), then runs")
    func stateDatabaseLocked() async throws {
        try await withServerSandbox(documents: 10) { sandbox, server, job in
            #expect(try await sandbox.bgsync(["run", job]).status == 0)
            let locked = try await runWhileLocked(sandbox.state + "/state.sqlite", sandbox, job)
            #expect(!locked.hung, "bgsync waited for the state database's lock for more than 2 minutes")
            #expect(locked.run.status == 75, "\(locked.run.stdout) \(locked.run.stderr)")
            let reason = (try? JSONValue.parse(locked.run.stdout))?["reason"]?.stringValue ?? ""
            #expect(reason.contains("state.sqlite") && reason.contains("locked"), "\(reason)")
            let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
        }
    }

    @Test("a local database locked by the application: bgsync gives up after its busy timeout (exit 75), then runs")
    func localDatabaseLocked() async throws {
        try await withServerSandbox(documents: 10) { sandbox, server, job in
            #expect(try await sandbox.bgsync(["run", job]).status == 0)
            try server.database("db")?.write { tx in try tx.put(id: "late", json: "{}") }
            let locked = try await runWhileLocked(sandbox.localStore, sandbox, job)
            #expect(!locked.hung, "bgsync waited for the local database's lock for more than 2 minutes")
            #expect(locked.run.status == 75, "\(locked.run.stdout) \(locked.run.stderr)")
            let reason = (try? JSONValue.parse(locked.run.stdout))?["reason"]?.stringValue ?? ""
            #expect(reason.contains(sandbox.localStore) && reason.contains("locked"), "\(reason)")
            let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
            #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
            try await expectConverged(sandbox, server, documents: 11)
        }
    }

    @Test("a lock file left with a dead pid, or with a live unrelated pid, does not block the next run")
    func staleLockFile() async throws {
        try await withServerSandbox(documents: 5) { sandbox, server, job in
            // A pid that was alive and is no more.
            let exited = try await runTool("/bin/sh", ["-c", "echo $$"])
            let deadPID = try #require(Int32(exited.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            for pid in [deadPID, getpid()] {
                try sandbox.write("state/locks/job.lock", "\(pid)\n", mode: 0o600)
                let run = try await sandbox.bgsync(["run", job, "--force", "--json"])
                #expect(run.status == 0, "\(run.stderr)")
                #expect(try JSONValue.parse(run.stdout)["outcome"]?.stringValue == "synced", "lock file with pid \(pid): \(run.stdout)")
            }
        }
    }

    @Test("a run SIGKILLed while holding the lock, or stopped and then killed, does not block the next run")
    func killedHolder() async throws {
        try await withServerSandbox(documents: 40) { sandbox, server, job in
            server.inject(.delay(seconds: 0.3, path: .suffix("/_bulk_get"), times: 100))
            for stopFirst in [false, true] {
                if stopFirst {
                    // Work for the holder: it must still be transferring when it is stopped.
                    try server.database("db")?.write { tx in
                        for i in 100..<140 { try tx.put(id: String(format: "r%04d", i), json: #"{"n":\#(i)}"#) }
                    }
                }
                let holder = try sandbox.start(["run", job, "--force", "--json"])
                // Wait until it holds the lock and has recorded that it runs.
                while holder.isRunning, try await sandbox.status().first?["state"]?.stringValue != "running" {
                    try await Task.sleep(nanoseconds: 20_000_000)
                }
                if stopFirst {
                    // A stopped holder is alive: the lock is not stale, the next run skips.
                    kill(holder.pid, SIGSTOP)
                    try #require(holder.isRunning, "the holder ended before it could be stopped")
                    let skipped = try await sandbox.bgsync(["run", job, "--force", "--json"])
                    #expect(skipped.status == 0)
                    let reason = try JSONValue.parse(skipped.stdout)["reason"]?.stringValue ?? ""
                    #expect(reason.contains("already running") && reason.contains("\(holder.pid)"), "\(reason)")
                }
                kill(holder.pid, SIGKILL)
                _ = try await holder.finish()
                let next = try await sandbox.bgsync(["run", job, "--force", "--json"])
                #expect(next.status == 0, "\(next.stdout) \(next.stderr)")
                #expect(try JSONValue.parse(next.stdout)["outcome"]?.stringValue == "synced")
                let history = try await sandbox.bgsync(["status", "--json", "--history", "10"])
                let runs = try JSONValue.parse(history.stdout).arrayValue?.first?["history"]?.arrayValue ?? []
                #expect(runs.contains { $0["reason"]?.stringValue == "process died" }, "\(history.stdout)")
                #expect(!runs.contains { $0["outcome"]?.isNull ?? true }, "a run is still shown as running: \(history.stdout)")
            }
            server.clearFaults()
        }
    }
}
