import BGSyncStore
import BGSyncTestSupport
import Foundation
import Synchronization
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
               launcher: [String] = [], currentDirectory: String? = nil) throws -> RunningBGSync {
        let binary = try #require(DBCommandTests.binary, "the bgsync executable was not found; build it first")
        var environment = self.environment
        for (key, value) in extraEnvironment { environment[key] = value }
        let arguments = arguments + (stateDir ? ["--state-dir", state] : [])
        guard let program = launcher.first else {
            return try RunningBGSync(binary: binary, arguments: arguments, environment: environment, currentDirectory: currentDirectory)
        }
        return try RunningBGSync(binary: program, arguments: Array(launcher.dropFirst()) + [binary] + arguments, environment: environment,
                                 currentDirectory: currentDirectory)
    }

    /// `status --json` parsed.
    func status() async throws -> [JSONValue] {
        let run = try await bgsync(["status", "--json"])
        return try JSONValue.parse(run.stdout).arrayValue ?? []
    }
}

/// A `bgsync` child process with its output going to files.
final class RunningBGSync {
    let process = Process()
    let scratch: URL
    /// Just before the child was started.
    let startedAt: Date
    /// When the child exited, taken on the thread that waits for it (so that a busy
    /// concurrency pool in the test process does not add to the measure); nil until then.
    var exitedAt: Date? { exit.value.withLock { $0 } }
    private let exit = ExitTime()

    private final class ExitTime: Sendable {
        let value = Mutex<Date?>(nil)
    }

    init(binary: String, arguments: [String], environment: [String: String], currentDirectory: String? = nil) throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: false)
        for name in ["stdout", "stderr"] { FileManager.default.createFile(atPath: scratch.appendingPathComponent(name).path, contents: nil) }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardOutput = try FileHandle(forWritingTo: scratch.appendingPathComponent("stdout"))
        process.standardError = try FileHandle(forWritingTo: scratch.appendingPathComponent("stderr"))
        startedAt = Date()
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Like ``finish()``, also sampling the child's peak resident memory (`VmHWM` of
    /// `/proc/PID/status`, a high-water mark, read every 10 ms until it exits) in KiB.
    func finishMeasuringPeakMemory() async throws -> (run: DBCommandTests.Run, peakKiB: Int) {
        let process = self.process
        let path = "/proc/\(process.processIdentifier)/status"
        let peak = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            DispatchQueue.global().async {
                var peak = 0
                while process.isRunning {
                    if let text = try? String(contentsOfFile: path, encoding: .utf8),
                       let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                       let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                        peak = max(peak, kib)
                    }
                    usleep(10_000)
                }
                continuation.resume(returning: peak)
            }
        }
        return (try await finish(), peak)
    }

    /// Waits for the child without blocking a thread of the concurrency pool (the fixture
    /// server in this process needs those threads to answer the child).
    func finish() async throws -> DBCommandTests.Run {
        let process = self.process
        let exit = self.exit
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                process.waitUntilExit()
                exit.value.withLock { $0 = Date() }
                continuation.resume()
            }.start()
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        return DBCommandTests.Run(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: scratch.appendingPathComponent("stdout")), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: scratch.appendingPathComponent("stderr")), as: UTF8.self))
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

/// Waits for a child process without blocking a thread of the concurrency pool (the fixture
/// server in this process needs those threads to answer the child).
func waitOffPool(_ process: Process) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread {
            process.waitUntilExit()
            continuation.resume()
        }.start()
    }
}
