import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// The README's exit-code table, one test per row, run against the real binary (issue 13.6):
/// each row's cases exit with that code and say what is wrong.
@Suite("Exit codes: one test per row of the README's table")
struct ExitCodeTests {
    /// The launcher that runs the child as an unprivileged user (root reads every file, so a
    /// permission problem needs another user); none when the tests do not run as root.
    static var unprivileged: [String] {
        getuid() == 0 ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : []
    }

    @Test("0: synced, and nothing to do (not due)")
    func row0() async throws {
        let (sandbox, job) = try JobSandbox.withLocalHub(jobBody: "[schedule]\ninterval = \"1h\"\n")
        defer { sandbox.remove() }
        let synced = try await sandbox.bgsync(["run", job])
        #expect(synced.status == 0, "\(synced.stderr)")
        let notDue = try await sandbox.bgsync(["run", job, "--json"])
        #expect(notDue.status == 0, "\(notDue.stderr)")
        #expect(try JSONValue.parse(notDue.stdout)["reason_code"]?.stringValue == "not_due")
    }

    @Test("1: db get of a missing document, db put with a stale _rev")
    func row1() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let db = sandbox.root + "/data/db.sqlite"
        let body = try sandbox.write("body.json", #"{"_rev":"1-00000000000000000000000000000000","a":1}"#)
        let put = try await sandbox.bgsync(["db", db, "put", "x", try sandbox.write("plain.json", "{}")], stateDir: false)
        #expect(put.status == 0, "\(put.stderr)")
        let missing = try await sandbox.bgsync(["db", db, "get", "nope"], stateDir: false)
        #expect(missing.status == 1 && missing.stderr.contains("not_found"), "\(missing.stderr)")
        let stale = try await sandbox.bgsync(["db", db, "put", "x", body], stateDir: false)
        #expect(stale.status == 1 && stale.stderr.contains("conflict"), "\(stale.stderr)")
    }

    @Test("64: bare bgsync, an unsupported URL scheme, a password in the URL, a relative --bgsync-path")
    func row64() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let bare = try await sandbox.bgsync([], stateDir: false)
        #expect(bare.status == 64, "\(bare.stdout)")
        #expect(bare.stderr.contains("USAGE") && bare.stdout.isEmpty, "\(bare.stderr)")

        let local = sandbox.root + "/data/l.sqlite"
        let scheme = try await sandbox.bgsync(["sync", local, "ftp://host/db"], stateDir: false)
        #expect(scheme.status == 64 && scheme.stderr.contains("unsupported"), "\(scheme.stderr)")

        let secret = "pw-Hk27-secret"
        let withPassword = try await sandbox.bgsync(["sync", local, "https://alice:\(secret)@couch.example.com/db", "--json"], stateDir: false)
        #expect(withPassword.status == 64, "\(withPassword.stderr)")
        #expect(withPassword.stderr.contains("--password-file") && withPassword.stderr.contains("BGSYNC_PASSWORD"), "\(withPassword.stderr)")
        #expect(!withPassword.stderr.contains(secret) && !withPassword.stdout.contains(secret))
        #expect(!FileManager.default.fileExists(atPath: local), "nothing created")

        try sandbox.write(".config/bgsync/jobs/notes.toml", "factory = \"main\"\n")
        let crontab = sandbox.root + "/crontab"
        let relative = try await sandbox.bgsync(["schedule", "notes", "--every", "1h", "--cron", "--crontab-file", crontab, "--bgsync-path", "bin/bgsync"],
                                                stateDir: false)
        #expect(relative.status == 64 && relative.stderr.contains("absolute path"), "\(relative.stderr)")
        #expect(!FileManager.default.fileExists(atPath: crontab))
    }

    @Test("65: a malformed JSON body; a server response that is not JSON")
    func row65() async throws {
        try await JobSandbox.withServer { sandbox, server in
            let db = sandbox.root + "/data/db.sqlite"
            let body = try sandbox.write("bad.json", "{\"a\":")
            let put = try await sandbox.bgsync(["db", db, "put", "x", body], stateDir: false)
            #expect(put.status == 65, "\(put.stderr)")
            server.inject(.malformedJSON(path: .suffix("/_changes")))
            let sync = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", server.url("db"), "--pull-only"], stateDir: false)
            #expect(sync.status == 65, "\(sync.stderr)")
        }
    }

    @Test("66: a missing job file, registry (--registry), database or input file; status of an unknown tag; a directory or a missing directory where a file was expected")
    func row66() async throws {
        let (sandbox, job) = try JobSandbox.withLocalHub()
        defer { sandbox.remove() }
        let cases: [([String], String)] = [
            (["run", sandbox.root + "/nope.toml"], "no such job file"),
            (["check", sandbox.root + "/nope.toml"], "no such job file"),
            (["run", sandbox.root + "/no-dir/job.toml"], "the directory \(sandbox.root)/no-dir does not exist"),
            (["run", sandbox.root + "/data"], "is a directory"),
            (["check", sandbox.root + "/data/"], "is a directory"),
            (["factories", "--registry", sandbox.root + "/nope.toml"], "no such registry"),
            (["factories", "--registry", sandbox.root + "/data"], "is a directory"),
            (["status", "unknown-tag"], "no job with tag \"unknown-tag\""),
            (["cancel", "unknown-tag"], "known tags"),
            (["db", sandbox.root + "/nope.sqlite", "info"], "no such database file"),
            (["db", sandbox.root + "/data", "ls"], "is a directory"),
            (["db", sandbox.root + "/no-dir/db.sqlite", "put", "x", job], "the directory \(sandbox.root)/no-dir does not exist"),
            (["db", sandbox.localStore, "put", "x", sandbox.root + "/nope.json"], "no such file"),
            (["db", sandbox.localStore, "put", "x", sandbox.root + "/data"], "is a directory"),
            (["sync", sandbox.root + "/no-dir/l.sqlite", "file:" + sandbox.root + "/data/hub.sqlite"], "the directory \(sandbox.root)/no-dir does not exist"),
            (["sync", sandbox.root + "/data", "file:" + sandbox.root + "/data/hub.sqlite"], "is a directory"),
            (["sync", sandbox.localStore, "http://127.0.0.1:9/db", "--user", "a", "--password-file", sandbox.root + "/nope"], "no such password file"),
            (["sync", sandbox.localStore, "http://127.0.0.1:9/db", "--ca-file", sandbox.root + "/nope.pem"], "no such CA file"),
        ]
        for (arguments, expected) in cases {
            let run = try await sandbox.bgsync(arguments, stateDir: arguments[0] == "status" || arguments[0] == "cancel")
            #expect(run.status == 66, "\(arguments): \(run.stdout) \(run.stderr)")
            #expect(run.stderr.contains(expected), "\(arguments): \(run.stderr)")
        }
        // status of an unknown tag, also once the state database exists.
        #expect(try await sandbox.bgsync(["run", job]).status == 0)
        let unknown = try await sandbox.bgsync(["status", "other", "--json"])
        #expect(unknown.status == 66 && unknown.stderr.contains("known tags: job"), "\(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: sandbox.root + "/no-dir"))
    }

    @Test("69: the remote database does not exist")
    func row69() async throws {
        try await JobSandbox.withServer { sandbox, server in
            let sync = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", server.url("missing")], stateDir: false)
            #expect(sync.status == 69 && sync.stderr.contains("does not exist"), "\(sync.stderr)")
        }
    }

    @Test("74: a file that is not a bgsync database")
    func row74() async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        let garbage = try sandbox.write("data/garbage.sqlite", String(repeating: "not a database\n", count: 100))
        let info = try await sandbox.bgsync(["db", garbage, "info"], stateDir: false)
        #expect(info.status == 74, "\(info.stderr)")
    }

    @Test("75: interrupted at its deadline")
    func row75() async throws {
        try await JobSandbox.withServer { sandbox, server in
            server.inject(.delay(seconds: 30, path: .suffix("/_changes"), times: 10))
            let sync = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", server.url("db"), "--timeout", "1s", "--json"], stateDir: false)
            #expect(sync.status == 75, "\(sync.stderr)")
            let result = try JSONValue.parse(sync.stdout)
            #expect(result["outcome"]?.stringValue == "interrupted")
            #expect(result["reason_code"]?.stringValue == "deadline")
        }
    }

    @Test("77: a secret readable by others, refused credentials, a file this user may not read or write")
    func row77() async throws {
        try await JobSandbox.withServer(configuration: FixtureServer.Configuration(users: ["alice": "right"])) { sandbox, server in
            let local = sandbox.root + "/data/l.sqlite"
            let open = try sandbox.write("open-secret", "right\n", mode: 0o644)
            let readable = try await sandbox.bgsync(["sync", local, server.url("db"), "--user", "alice", "--password-file", open], stateDir: false)
            #expect(readable.status == 77 && readable.stderr.contains("chmod 600"), "\(readable.stderr)")
            let wrong = try await sandbox.bgsync(["sync", local, server.url("db"), "--user", "alice"], stateDir: false,
                                                 extraEnvironment: ["BGSYNC_PASSWORD": "wrong"])
            #expect(wrong.status == 77, "\(wrong.stderr)")

            // Files this user may not use: owned by root and private (the child runs as nobody),
            // or mode 000 when the tests do not run as root.
            let privateMode = getuid() == 0 ? 0o600 : 0o000
            let database = sandbox.root + "/data/private.sqlite"
            let store = try DocumentStore.open(at: database)
            try store.write { tx in _ = try tx.put(id: "a", json: "{}") }
            try FileManager.default.setAttributes([.posixPermissions: privateMode], ofItemAtPath: database)
            let unreadable = try await sandbox.bgsync(["db", database, "ls"], stateDir: false, launcher: Self.unprivileged)
            #expect(unreadable.status == 77 && unreadable.stderr.contains("permission denied"), "\(unreadable.stderr)")
            let body = try sandbox.write("body.json", "{}", mode: privateMode)
            try FileManager.default.createDirectory(atPath: sandbox.root + "/open", withIntermediateDirectories: false,
                                                    attributes: [.posixPermissions: 0o777])
            let unreadableBody = try await sandbox.bgsync(["db", sandbox.root + "/open/new.sqlite", "put", "x", body], stateDir: false,
                                                          launcher: Self.unprivileged)
            #expect(unreadableBody.status == 77 && unreadableBody.stderr.contains("permission denied"), "\(unreadableBody.stderr)")
            if getuid() == 0 {
                let noWrite = try await sandbox.bgsync(["db", sandbox.root + "/data/new.sqlite", "put", "x", "-"], stateDir: false,
                                                       launcher: Self.unprivileged)
                #expect(noWrite.status == 77 && noWrite.stderr.contains("cannot create files in \(sandbox.root)/data"), "\(noWrite.stderr)")
            }
        }
    }

    @Test("77: a state directory this user may not create or write", .enabled(if: getuid() == 0, "needs root to run the child as another user"))
    func row77State() async throws {
        let (sandbox, job) = try JobSandbox.withLocalHub()
        defer { sandbox.remove() }
        for directory in [sandbox.root + "/new-state", sandbox.state] {
            let run = try await sandbox.bgsync(["run", job, "--json", "--state-dir", directory], stateDir: false, launcher: Self.unprivileged)
            #expect(run.status == 77 && run.stderr.contains("permission denied"), "\(directory): \(run.stderr)")
            #expect(try JSONValue.parse(run.stdout)["reason_code"]?.stringValue == "permission")
        }
    }

    @Test("78: an invalid job file or registry; a password in a registry's remote; a redirect names its Location")
    func row78() async throws {
        try await JobSandbox.withServer { sandbox, server in
            let job = try sandbox.job(body: "[schedule]\ninterval = \"soon\"\n")
            try sandbox.registry(remote: server.url("db"))
            let invalid = try await sandbox.bgsync(["run", job])
            #expect(invalid.status == 78 && invalid.stderr.contains("interval"), "\(invalid.stderr)")

            try sandbox.job()
            let secret = "reg-Pw-8812"
            try sandbox.registry(remote: server.url("db").replacingOccurrences(of: "http://", with: "http://alice:\(secret)@"))
            let password = try await sandbox.bgsync(["run", job, "--json"])
            #expect(password.status == 78 && password.stderr.contains("auth.password_file"), "\(password.stderr)")
            #expect(!password.stderr.contains(secret) && !password.stdout.contains(secret))

            try sandbox.registry(remote: server.url("db"))
            let moved = server.url("moved")
            server.inject(.status(301, headers: [("Location", moved)], path: .exact("/db"), times: 10))
            let redirected = try await sandbox.bgsync(["run", job, "--json"])
            #expect(redirected.status == 78, "\(redirected.stderr)")
            #expect(redirected.stderr.contains("HTTP 301") && redirected.stderr.contains(moved), "\(redirected.stderr)")
            #expect(try JSONValue.parse(redirected.stdout)["reason_code"]?.stringValue == "configuration")
            server.clearFaults()
            server.inject(.status(307, headers: [("Location", "/elsewhere/db")], path: .exact("/db"), times: 10))
            let relative = try await sandbox.bgsync(["sync", sandbox.root + "/data/l.sqlite", server.url("db")], stateDir: false)
            #expect(relative.status == 78 && relative.stderr.contains(server.baseURL + "/elsewhere/db"), "\(relative.stderr)")
        }
    }
}
