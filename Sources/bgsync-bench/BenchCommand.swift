import ArgumentParser
import BGSyncStore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `bgsync-bench`: measures the built `bgsync` binary against the budgets of DESIGN §8.
@main
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bgsync-bench",
        abstract: "Time the release bgsync binary: initial pull, incremental pull, initial push, no-op runs, the floor, peak RSS; with --server, CouchDB's own replicator too.",
        discussion: """
            Without --server it starts the fixture server in this process (127.0.0.1, ephemeral \
            port) and seeds its databases directly. With --server it uses that server (e.g. a real \
            CouchDB), creating, seeding (_bulk_docs) and deleting databases named \
            bgsync-bench-PID-TIME-…, and times the server's own replicator (POST /_replicate into a \
            new database, and a no-op re-run) for the ratios. Each scenario runs bgsync as a separate process and reports \
            the median, min and max wall time, documents per second, HTTP requests and the peak \
            RSS of the child. Exit status 0 even when a budget is not met; 1 on errors.
            """
    )

    @OptionGroup var options: BenchOptions

    func run() async throws {
        do {
            try await benchmark()
        } catch let error as ExitCode {
            throw error
        } catch {
            if let number = Interruption.received {
                FileHandle.standardError.write(Data("bgsync-bench: interrupted by signal \(number); cleaned up\n".utf8))
                throw ExitCode(128 + number)
            }
            FileHandle.standardError.write(Data("bgsync-bench: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }

    private func benchmark() async throws {
        Interruption.install()
        if options.trees { return try await trees() }
        let bgsync = try locateBGSync()
        let loadAtStart = RunContext.loadAverage()
        let workDir = try makeWorkDirectory()
        defer { if options.workDir == nil { try? FileManager.default.removeItem(atPath: workDir) } }

        var credentials: (user: String, passwordFile: String)?
        var password: String?
        if let user = options.user, let file = options.passwordFile {
            let absolute = URL(fileURLWithPath: file).standardizedFileURL.path
            guard let data = FileManager.default.contents(atPath: absolute) else {
                throw BenchError("--password-file \(file): no such file or not readable")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            password = text
            credentials = (user, absolute)
        }
        let http = BenchHTTP(user: credentials?.user, password: password)
        let server: any BenchServer
        let prefix: String
        if let base = options.server {
            server = RemoteBenchServer(base: base, http: http)
            prefix = "bgsync-bench-\(getpid())-\(Int(Date().timeIntervalSince1970))"
        } else if options.setupOverHttp {
            let fixture = try await FixtureBenchServer.start()
            server = RemoteBenchServer(base: fixture.baseURL, http: http, owned: fixture)
            prefix = "bench"
        } else {
            server = try await FixtureBenchServer.start()
            prefix = "bench"
        }
        let scenarios = Scenarios(options: options, server: server, http: http, bgsync: bgsync, workDir: workDir,
                                  credentials: credentials, password: password, databasePrefix: prefix)
        let outcome: Result<[PayloadResult], any Error>
        do {
            if options.payloads {
                guard options.attachmentMib > 0, options.jsonMb > 0 else { throw BenchError("--attachment-mib and --json-mb must be at least 1") }
                outcome = .success(try await scenarios.payloads(attachmentBytes: options.attachmentMib << 20, jsonBytes: options.jsonMb * 1_000_000))
            } else {
                try await scenarios.runAll()
                outcome = .success([])
            }
        } catch {
            outcome = .failure(error)
        }
        await scenarios.cleanup()
        await server.stop()
        await http.shutdown()
        let payloads = try outcome.get()

        let context = RunContext(
            date: ISO8601DateFormatter().string(from: Date()),
            commit: await RunContext.gitCommit(scratch: workDir),
            processors: ProcessInfo.processInfo.activeProcessorCount,
            cpuModel: RunContext.cpuModel(),
            memoryBytes: ProcessInfo.processInfo.physicalMemory,
            server: server.label,
            realServer: options.server != nil,
            bgsync: bgsync + (bgsync.contains("/debug/") ? " (a DEBUG build: figures are not representative)" : ""),
            docs: options.docs, docSize: options.docSize, runs: options.runs, noOpRuns: options.noopRuns,
            scale: options.scale, seedingSeconds: scenarios.seedingSeconds,
            loadAverage: (loadAtStart, RunContext.loadAverage()))
        if options.payloads {
            print(options.json ? Report.payloadsJSON(context, payloads) : Report.payloadsText(context, payloads))
            return
        }
        let budgets = Budgets.check(scenarios.results, docs: options.docs, docSize: options.docSize, scale: options.scale,
                                    realServer: options.server != nil)
        let output = options.json ? Report.json(context, scenarios.results, budgets) : Report.text(context, scenarios.results, budgets)
        print(output)
    }

    /// `--trees`: the tree-scaling scenario alone (see ``TreeScaling``).
    private func trees() async throws {
        let loadAtStart = RunContext.loadAverage()
        let workDir = try makeWorkDirectory()
        defer { if options.workDir == nil { try? FileManager.default.removeItem(atPath: workDir) } }
        let scaling = TreeScaling(workDir: workDir, leafCounts: options.treeLeafCounts,
                                  historyLengths: options.treeHistoryLengths, runs: options.runs, quiet: options.quiet)
        let series = try scaling.run()
        let commit = await RunContext.gitCommit(scratch: workDir)
        print(options.json ? TreeScaling.json(series, commit: commit)
                           : TreeScaling.text(series, commit: commit, loadAverage: (loadAtStart, RunContext.loadAverage())))
    }

    /// `--bgsync`, else `bgsync` in the folder of this executable (the same build folder).
    private func locateBGSync() throws -> String {
        if let given = options.bgsync {
            let path = URL(fileURLWithPath: given).standardizedFileURL.path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw BenchError("--bgsync \(given): no executable file there")
            }
            return path
        }
        let own = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
        let candidate = (own as NSString).deletingLastPathComponent + "/bgsync"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw BenchError("no bgsync binary at \(candidate): build it with swift build -c release --product bgsync (same --scratch-path as bgsync-bench), or give --bgsync PATH")
        }
        return candidate
    }

    /// `--work-dir` (created if missing), else a fresh directory under the temporary directory.
    private func makeWorkDirectory() throws -> String {
        let path: String
        if let given = options.workDir {
            path = URL(fileURLWithPath: given).standardizedFileURL.path
        } else {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-bench-\(UUID().uuidString)").path
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BenchError("cannot create the work directory \(path): \(error)")
        }
        return path
    }
}
