import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// A directory with a registry, job files, a state directory and a fake system root, for
/// running the real `bgsync` binary against them. Removed by `remove()`.
struct JobSandbox {
    let root: String
    var state: String { root + "/state" }
    var system: String { root + "/system" }
    var bin: String { root + "/bin" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-jobs-\(UUID().uuidString)").path
        for directory in [root, root + "/state", root + "/system/sys/class/power_supply", root + "/system/proc/net", root + "/bin", root + "/data"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        try write("system/proc/net/route", """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
            """)
        try mains(online: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    /// Writes a file (mode 0644 unless given).
    @discardableResult
    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws -> String {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func mains(online: Bool) throws {
        try write("system/sys/class/power_supply/AC/type", "Mains\n")
        try write("system/sys/class/power_supply/AC/online", online ? "1\n" : "0\n")
    }

    func battery(percent: Int, status: String) throws {
        try write("system/sys/class/power_supply/BAT0/type", "Battery\n")
        try write("system/sys/class/power_supply/BAT0/capacity", "\(percent)\n")
        try write("system/sys/class/power_supply/BAT0/status", status + "\n")
    }

    /// A fake `nmcli` answering GENERAL.METERED.
    func nmcli(metered: String) throws {
        try write("bin/nmcli", "#!/bin/sh\necho 'GENERAL.METERED:\(metered)'\n", mode: 0o755)
    }

    /// A registry with one declarative factory `main` (extra TOML lines appended to it).
    @discardableResult
    func registry(remote: String, extra: String = "") throws -> String {
        try write("registry.toml", """
            [factories.main]
            database = "data/local.sqlite"
            remote = "\(remote)"
            \(extra)
            """)
    }

    /// A job file `NAME.toml` using factory `main`.
    @discardableResult
    func job(_ name: String = "job", body: String = "") throws -> String {
        try write("\(name).toml", "factory = \"main\"\n" + body)
    }

    var localStore: String { root + "/data/local.sqlite" }

    /// The environment for the child: a fake system root, the sandbox's bin first on PATH.
    var environment: [String: String] {
        ["PATH": bin + ":/usr/bin:/bin", "BGSYNC_SYSTEM_ROOT": system, "HOME": root, "LANG": "C.UTF-8"]
    }

    /// Runs `bgsync ARGUMENTS --state-dir STATE` with the sandbox's environment.
    func bgsync(_ arguments: [String], stateDir: Bool = true, extraEnvironment: [String: String] = [:],
                launcher: [String] = []) async throws -> DBCommandTests.Run {
        let process = try start(arguments, stateDir: stateDir, extraEnvironment: extraEnvironment, launcher: launcher)
        return try await process.finish()
    }

    /// Starts `bgsync` without waiting for it (in `currentDirectory` when given); `launcher` (a
    /// program and its arguments, such as `prlimit --fsize=…`) runs it when given.
    func start(_ arguments: [String], stateDir: Bool = true, extraEnvironment: [String: String] = [:],
               launcher: [String] = [], currentDirectory: String? = nil) throws -> TestProcess {
        let binary = try #require(DBCommandTests.binary, "the bgsync executable was not found; build it first")
        var environment = self.environment
        for (key, value) in extraEnvironment { environment[key] = value }
        let arguments = arguments + (stateDir ? ["--state-dir", state] : [])
        guard let program = launcher.first else {
            return try TestProcess(binary, arguments, environment: environment, currentDirectory: currentDirectory)
        }
        return try TestProcess(program, Array(launcher.dropFirst()) + [binary] + arguments, environment: environment,
                               currentDirectory: currentDirectory)
    }

    /// `status --json` parsed.
    func status() async throws -> [JSONValue] {
        let run = try await bgsync(["status", "--json"])
        return try JSONValue.parse(run.stdout).arrayValue ?? []
    }
}

extension JobSandbox {
    /// A sandbox whose factory `main` syncs with a second local store, `data/hub.sqlite`, holding
    /// `documents` documents (`doc0`, `doc1`, …), and a job file `job.toml` with `jobBody`
    /// (returned as the second element).
    static func withLocalHub(documents: Int = 3, jobBody: String = "") throws -> (JobSandbox, String) {
        let sandbox = try JobSandbox()
        try sandbox.registry(remote: "file:data/hub.sqlite")
        let hub = try DocumentStore.open(at: sandbox.root + "/data/hub.sqlite")
        try hub.write { tx in
            for i in 0..<documents { _ = try tx.put(id: "doc\(i)", json: #"{"n":\#(i)}"#) }
        }
        let job = try sandbox.job(body: jobBody)
        return (sandbox, job)
    }

    /// Runs `body` with a new sandbox and a fixture server whose database `db` holds `documents`
    /// documents (`r000`, `r001`, …); stops the server and removes the sandbox afterwards.
    static func withServer(documents: Int = 5, configuration: FixtureServer.Configuration = FixtureServer.Configuration(),
                           _ body: (JobSandbox, FixtureServer) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(configuration) { server in
            let remote = try server.createDatabase("db")
            try remote.write { tx in
                for i in 0..<documents { _ = try tx.put(id: String(format: "r%03d", i), json: #"{"n":\#(i)}"#) }
            }
            try await body(sandbox, server)
        }
    }
}
