import BGSyncStore
import Foundation

/// One run of a scenario.
struct RunSample: Sendable {
    var wallSeconds: Double
    /// CPU time of the `bgsync` child (nil for in-process measurements).
    var cpuSeconds: Double?
    /// Peak RSS of the `bgsync` child (nil for in-process measurements).
    var peakRSSBytes: Int?
    /// HTTP requests: counted by the fixture server, else as `bgsync --json` reports them.
    var requests: Int?
    /// CPU time of this process during the run: the in-process fixture server's work (and the
    /// RSS sampler's, a fraction of a percent); nil with `--server`.
    var serverCPUSeconds: Double? = nil
}

/// What a scenario times.
enum Runner: String, Sendable {
    /// The `bgsync` binary as a child process.
    case bgsync
    /// Work done in this process (the floor).
    case inProcess = "in_process"
    /// The server's own replicator (`POST /_replicate`), from the request to its answer.
    case couchReplicator = "couchdb_replicator"
}

/// The runs of one scenario.
struct ScenarioResult: Sendable {
    /// A stable key for JSON, e.g. `initial_pull`.
    var key: String
    /// What the table shows, e.g. `initial pull`.
    var title: String
    /// Documents the scenario transfers (the docs/s figure divides by this).
    var docs: Int
    /// What ran: a `bgsync` child, this process (the floor) or the server's replicator.
    var runner: Runner = .bgsync
    var samples: [RunSample] = []

    /// Whether it ran in this process (the floor) rather than as a `bgsync` child.
    var inProcess: Bool { runner == .inProcess }

    var wall: Summary? { Summary(samples.map(\.wallSeconds)) }
    var cpu: Summary? { Summary(samples.compactMap(\.cpuSeconds)) }
    var serverCPU: Summary? { Summary(samples.compactMap(\.serverCPUSeconds)) }
    /// The highest peak RSS of all runs.
    var peakRSSBytes: Int? { samples.compactMap(\.peakRSSBytes).max() }
    /// The median request count.
    var requests: Int? { Summary(samples.compactMap { $0.requests.map(Double.init) }).map { Int($0.median.rounded()) } }
    /// Documents per second at the median wall time; nil when nothing is transferred.
    var docsPerSecond: Double? {
        guard docs > 0, let wall, wall.median > 0 else { return nil }
        return Double(docs) / wall.median
    }
}

/// Runs every scenario of DESIGN §8 against one server and collects the results.
final class Scenarios {
    let options: BenchOptions
    let server: any BenchServer
    let http: BenchHTTP
    let bgsync: String
    let workDir: String
    let bodies: DocumentBodies
    /// `--user U --password-file F` for bgsync when `--server` needs credentials.
    let credentialArguments: [String]
    /// `user` and absolute `password_file` for the job registry.
    let credentials: (user: String, passwordFile: String)?
    /// The password read from `--password-file`: the server's replicator is given it (its
    /// source and target need credentials as bgsync does).
    private let password: String?
    let prefix: String
    private var created: Set<String> = []

    /// Seconds spent seeding the server and the local store for push (not part of any figure).
    private(set) var seedingSeconds: [String: Double] = [:]
    private(set) var results: [ScenarioResult] = []

    init(options: BenchOptions, server: any BenchServer, http: BenchHTTP, bgsync: String, workDir: String,
         credentials: (user: String, passwordFile: String)?, password: String?, databasePrefix: String) {
        self.options = options
        self.server = server
        self.http = http
        self.bgsync = bgsync
        self.workDir = workDir
        self.bodies = DocumentBodies(size: options.docSize)
        self.credentials = credentials
        self.password = password
        self.credentialArguments = credentials.map { ["--user", $0.user, "--password-file", $0.passwordFile] } ?? []
        self.prefix = databasePrefix
    }

    func progress(_ message: String) {
        guard !options.quiet else { return }
        FileHandle.standardError.write(Data("bgsync-bench: \(message)\n".utf8))
    }

    private var environment: [String: String] {
        ["PATH": "/usr/bin:/bin", "HOME": workDir, "LANG": "C.UTF-8"]
    }

    // MARK: The whole benchmark

    func runAll() async throws {
        let n = options.docs
        let pullDB = prefix + "-pull"
        try await createDatabase(pullDB)
        try await timedSeeding("server (\(n) docs)") { try await server.seed(pullDB, 0..<n, bodies: bodies) }

        results.append(try await floor(pullDB))
        if options.server != nil {
            results += try await couchReplicator(pullDB)
        }
        let (pull, synced) = try await initialPull(pullDB)
        results.append(pull)
        results.append(try await initialSync(pullDB))
        results.append(try await incrementalPull(pullDB, store: synced))
        results.append(try await noOpSync(pullDB, store: synced))
        results.append(try await noOpJob(pullDB, store: synced))
        results.append(try await initialPush())
        if options.scale > 1 {
            let total = n * options.scale
            try await timedSeeding("server (to \(total) docs)") { try await server.seed(pullDB, n..<total, bodies: bodies) }
            results.append(try await scaledPull(pullDB, total: total))
        }
    }

    /// Deletes the databases this run created (on `--server`, the fixture's vanish with it).
    func cleanup() async {
        for name in created.sorted() {
            do {
                try await server.deleteDatabase(name)
            } catch {
                FileHandle.standardError.write(Data("bgsync-bench: could not delete database \(name): \(error)\n".utf8))
            }
        }
        created.removeAll()
    }

    // MARK: Scenarios

    /// The floor, in this process: `_all_docs?include_docs=true` into a plain SQLite table.
    private func floor(_ database: String) async throws -> ScenarioResult {
        var result = ScenarioResult(key: "floor", title: "floor (_all_docs → SQLite)", docs: options.docs, runner: .inProcess)
        for run in 1...options.runs {
            progress("floor, run \(run)/\(options.runs)")
            _ = server.resetRequestCount()
            let measured = try await Floor.measure(databaseURL: server.url(database), http: http, sqlitePath: workDir + "/floor.sqlite")
            guard measured.rows == options.docs else {
                throw BenchError("the floor read \(measured.rows) rows from _all_docs, expected \(options.docs)")
            }
            result.samples.append(RunSample(wallSeconds: measured.seconds, requests: server.requestCount() ?? measured.requests))
        }
        removeStore(workDir + "/floor.sqlite")
        return result
    }

    /// CouchDB's own replicator, `--server` only: `POST /_replicate` (one-shot, `create_target`)
    /// from the pull database into a new database on the same server, `runs` times, each into
    /// a fresh database deleted afterwards; then `noopRuns` re-runs into the last, complete
    /// one. In CouchDB 3.x the request answers when the one-shot replication has completed
    /// (documents written, checkpoint recorded), so its wall time is the replication's.
    /// Source and target are URLs of `--server` as this process reaches it: local to local on
    /// the same server, as a user copying a database with CouchDB would do it.
    private func couchReplicator(_ database: String) async throws -> [ScenarioResult] {
        var copy = ScenarioResult(key: "couchdb_replicate", title: "CouchDB _replicate → new db", docs: options.docs,
                                  runner: .couchReplicator)
        var noOp = ScenarioResult(key: "couchdb_replicate_noop", title: "CouchDB _replicate, no-op re-run", docs: 0,
                                  runner: .couchReplicator)
        var previous: String?
        for run in 1...options.runs {
            progress("CouchDB _replicate of \(options.docs) docs into a new database, run \(run)/\(options.runs)")
            if let previous { try await deleteDatabase(previous) }
            let name = prefix + "-replica-\(run)"
            try await server.deleteDatabase(name)
            created.insert(name)
            previous = name
            let (seconds, answer) = try await replicate(database, into: name)
            let written = answer["history"]?.arrayValue?.first?["docs_written"]?.intValue
            guard answer["no_changes"]?.boolValue != true, written == options.docs else {
                throw BenchError("CouchDB _replicate into \(name) reports docs_written = \(written.map(String.init) ?? "missing"), expected \(options.docs): \(Self.tail(answer.serialized))")
            }
            let count = try await docCount(name)
            guard count == options.docs else {
                throw BenchError("after CouchDB _replicate answered, \(name) holds \(count.map(String.init) ?? "an unknown number of") documents, expected \(options.docs)")
            }
            copy.samples.append(RunSample(wallSeconds: seconds))
        }
        guard let target = previous else { return [copy] }
        for run in 1...options.noopRuns {
            progress("CouchDB _replicate, no-op re-run \(run)/\(options.noopRuns)")
            let (seconds, answer) = try await replicate(database, into: target)
            // The answer of a no-op run repeats the history of the last session that did
            // work (with its docs_written); `no_changes` is what says nothing was done.
            guard answer["no_changes"]?.boolValue == true else {
                throw BenchError("CouchDB _replicate into the complete \(target) did not answer no_changes: \(Self.tail(answer.serialized))")
            }
            noOp.samples.append(RunSample(wallSeconds: seconds))
        }
        try await deleteDatabase(target)
        return [copy, noOp]
    }

    /// One `POST /_replicate` from `source` into `target` (created if missing); its wall time
    /// (request to whole answer, monotonic clock) and its answer, which must be `"ok": true`.
    private func replicate(_ source: String, into target: String) async throws -> (Double, JSONValue) {
        guard let base = options.server else { throw BenchError("CouchDB's replicator needs --server") }
        func endpoint(_ name: String) -> JSONValue {
            let url = JSONValue.string(server.url(name))
            guard let credentials, let password else { return url }
            return .object(["url": url, "auth": .object(["basic": .object([
                "username": .string(credentials.user), "password": .string(password),
            ])])])
        }
        let body = JSONValue.object(["source": endpoint(source), "target": endpoint(target), "create_target": .bool(true)])
        let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/_replicate"
        let started = DispatchTime.now().uptimeNanoseconds
        let response = try await http.send(.POST, url, body: body.serializedBytes)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000_000
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200, let answer = try? JSONValue.parse(response.body), answer["ok"]?.boolValue == true else {
            throw BenchError("POST \(url) from \(source) to \(target) answered \(response.status): \(Self.tail(text))")
        }
        return (seconds, answer)
    }

    /// `doc_count` of `GET /db`.
    private func docCount(_ database: String) async throws -> Int? {
        try JSONValue.parse(try await http.expect(200...200, .GET, server.url(database)))["doc_count"]?.intValue
    }

    /// Initial pull into an empty store, `runs` times; returns the last store, fully synced.
    private func initialPull(_ database: String) async throws -> (ScenarioResult, String) {
        var result = ScenarioResult(key: "initial_pull", title: "initial pull", docs: options.docs)
        let store = workDir + "/pulled.sqlite"
        for run in 1...options.runs {
            progress("initial pull of \(options.docs) docs, run \(run)/\(options.runs)")
            removeStore(store)
            let (sample, report) = try await sync(store, database, "--pull-only")
            try expectWritten(report, "pull", options.docs, scenario: "initial pull")
            result.samples.append(sample)
        }
        return (result, store)
    }

    /// `bgsync sync` (the pull, then the push) into an empty store, `runs` times: the push has
    /// nothing to send and, the server's `purge_seq` unchanged, asks about nothing the pull
    /// brought (its requests are the pull's and ~3 more).
    private func initialSync(_ database: String) async throws -> ScenarioResult {
        var result = ScenarioResult(key: "initial_sync", title: "initial sync (pull, then push)", docs: options.docs)
        let store = workDir + "/synced.sqlite"
        for run in 1...options.runs {
            progress("initial sync of \(options.docs) docs, run \(run)/\(options.runs)")
            removeStore(store)
            let (sample, report) = try await sync(store, database, nil)
            try expectWritten(report, "pull", options.docs, scenario: "initial sync")
            try expectWritten(report, "push", 0, scenario: "initial sync")
            result.samples.append(sample)
        }
        removeStore(store)
        return result
    }

    /// 1 % of the documents change on the server, then a pull; each run changes another 1 %.
    private func incrementalPull(_ database: String, store: String) async throws -> ScenarioResult {
        let changed = (0..<options.docs).filter { $0 % 100 == 1 }.count
        var result = ScenarioResult(key: "incremental_pull", title: "incremental pull (1 % changed)", docs: changed)
        for run in 1...options.runs {
            progress("incremental pull of \(changed) changed docs, run \(run)/\(options.runs)")
            let indexes = (0..<options.docs).filter { $0 % 100 == run % 100 }
            try await server.change(database, indexes, round: run, bodies: bodies)
            let (sample, report) = try await sync(store, database, "--pull-only")
            try expectWritten(report, "pull", indexes.count, scenario: "incremental pull")
            result.samples.append(sample)
        }
        return result
    }

    /// `bgsync sync` (pull and push) with nothing to do, after one unmeasured run that brings
    /// the push checkpoint up to date.
    private func noOpSync(_ database: String, store: String) async throws -> ScenarioResult {
        var result = ScenarioResult(key: "noop_sync", title: "no-op bgsync sync", docs: 0)
        progress("no-op sync: one unmeasured run to set the push checkpoint")
        _ = try await sync(store, database, nil)
        for run in 1...options.noopRuns {
            progress("no-op sync, run \(run)/\(options.noopRuns)")
            let (sample, report) = try await sync(store, database, nil)
            try expectWritten(report, "pull", 0, scenario: "no-op sync")
            try expectWritten(report, "push", 0, scenario: "no-op sync")
            result.samples.append(sample)
        }
        return result
    }

    /// `bgsync run JOB --force` with nothing to do, after one unmeasured run (the job's first).
    private func noOpJob(_ database: String, store: String) async throws -> ScenarioResult {
        var result = ScenarioResult(key: "noop_run", title: "no-op bgsync run (job)", docs: 0)
        let job = try writeJob(database: database, store: store)
        progress("no-op job run: one unmeasured first run")
        _ = try await runJob(job)
        for run in 1...options.noopRuns {
            progress("no-op job run, run \(run)/\(options.noopRuns)")
            let (sample, report) = try await runJob(job)
            try expectWritten(report, "pull", 0, scenario: "no-op job run")
            try expectWritten(report, "push", 0, scenario: "no-op job run")
            result.samples.append(sample)
        }
        return result
    }

    /// Initial push of N local documents into an empty remote database; each run pushes a
    /// fresh copy of the same seeded store into a new database.
    private func initialPush() async throws -> ScenarioResult {
        var result = ScenarioResult(key: "initial_push", title: "initial push", docs: options.docs)
        let template = workDir + "/push-template.sqlite"
        let store = workDir + "/push.sqlite"
        try await timedSeeding("local store for push (\(options.docs) docs)") {
            try Self.seedLocal(template, count: options.docs, bodies: bodies)
        }
        for run in 1...options.runs {
            progress("initial push of \(options.docs) docs, run \(run)/\(options.runs)")
            let database = prefix + "-push-\(run)"
            try await createDatabase(database)
            removeStore(store)
            try copyStore(template, store)
            let (sample, report) = try await sync(store, database, "--push-only")
            try expectWritten(report, "push", options.docs, scenario: "initial push")
            result.samples.append(sample)
            try await deleteDatabase(database)
        }
        removeStore(store)
        removeStore(template)
        return result
    }

    /// One initial pull of scale×N documents, for the memory-flatness figure.
    private func scaledPull(_ database: String, total: Int) async throws -> ScenarioResult {
        var result = ScenarioResult(key: "initial_pull_scaled", title: "initial pull (\(options.scale)×N)", docs: total)
        let store = workDir + "/pulled-scaled.sqlite"
        progress("initial pull of \(total) docs (\(options.scale)×N), one run")
        removeStore(store)
        let (sample, report) = try await sync(store, database, "--pull-only")
        try expectWritten(report, "pull", total, scenario: "initial pull at \(options.scale)×N")
        result.samples.append(sample)
        removeStore(store)
        return result
    }

    // MARK: Running bgsync

    /// `bgsync sync STORE URL [FLAG] --json` plus credentials.
    func sync(_ store: String, _ database: String, _ flag: String?) async throws -> (RunSample, JSONValue) {
        var arguments = ["sync", store, server.url(database)]
        if let flag { arguments.append(flag) }
        arguments += ["--json"] + credentialArguments
        return try await measure(arguments)
    }

    private func runJob(_ job: String) async throws -> (RunSample, JSONValue) {
        try await measure(["run", job, "--force", "--json", "--state-dir", workDir + "/state"])
    }

    /// Runs bgsync as a child, fails unless it exited 0 with `"outcome":"synced"`.
    func measure(_ arguments: [String]) async throws -> (RunSample, JSONValue) {
        let counted = server.resetRequestCount()
        let ownCPUBefore = ChildProcess.ownCPUSeconds()
        let measured = try await ChildProcess.run(bgsync, arguments, environment: environment, scratch: workDir)
        let ownCPU = ChildProcess.ownCPUSeconds() - ownCPUBefore
        let command = "bgsync " + arguments.prefix(2).joined(separator: " ")
        guard measured.exitCode == 0 else {
            throw BenchError("\(command) exited with \(measured.exitCode): \(Self.tail(measured.stderr + measured.stdout))")
        }
        let report: JSONValue
        do {
            report = try JSONValue.parse(measured.stdout)
        } catch {
            throw BenchError("\(command) --json printed something that is not JSON (\(error)): \(Self.tail(measured.stdout))")
        }
        guard report["outcome"]?.stringValue == "synced" else {
            throw BenchError("\(command): outcome \(report["outcome"]?.serialized ?? "missing"), expected synced: \(Self.tail(measured.stdout))")
        }
        let requests = counted ? server.requestCount() : report["http_requests"]?.intValue
        return (RunSample(wallSeconds: measured.wallSeconds, cpuSeconds: measured.cpuSeconds,
                          peakRSSBytes: measured.peakRSSBytes, requests: requests,
                          serverCPUSeconds: server.isInProcess ? ownCPU : nil), report)
    }

    func expectWritten(_ report: JSONValue, _ direction: String, _ expected: Int, scenario: String) throws {
        let written = report[direction]?["docs_written"]?.intValue
        guard written == expected else {
            throw BenchError("\(scenario): bgsync reports \(direction).docs_written = \(written.map(String.init) ?? "missing"), expected \(expected): \(report.serialized)")
        }
    }

    private static func tail(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count > 800 ? "…" + String(trimmed.suffix(800)) : trimmed
    }

    // MARK: Set-up

    func createDatabase(_ name: String) async throws {
        try await server.deleteDatabase(name)
        try await server.createDatabase(name)
        created.insert(name)
    }

    func deleteDatabase(_ name: String) async throws {
        try await server.deleteDatabase(name)
        created.remove(name)
    }

    func timedSeeding(_ what: String, _ body: () async throws -> Void) async throws {
        progress("seeding \(what)")
        let started = DispatchTime.now().uptimeNanoseconds
        try await body()
        seedingSeconds[what] = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000_000
    }

    /// A job file and registry (mode 0600, as bgsync's trust rule wants) syncing `store`
    /// with `database` in both directions.
    private func writeJob(database: String, store: String) throws -> String {
        let directory = workDir + "/job"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var registry = """
            [factories.bench]
            database = \(JSONValue.string(store).serialized)
            remote = \(JSONValue.string(server.url(database)).serialized)
            direction = "pull-and-push"

            """
        if let credentials {
            registry += "auth = { type = \"basic\", user = \(JSONValue.string(credentials.user).serialized), password_file = \(JSONValue.string(credentials.passwordFile).serialized) }\n"
        }
        try writeFile(directory + "/registry.toml", registry)
        let job = directory + "/bench.toml"
        try writeFile(job, "factory = \"bench\"\n")
        return job
    }

    private func writeFile(_ path: String, _ text: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw BenchError("cannot write \(path)")
        }
    }

    /// Seeds a local store through BGSyncStore's writer; the store is closed on return.
    private static func seedLocal(_ path: String, count: Int, bodies: DocumentBodies) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let store = try DocumentStore.open(at: path)
        try FixtureBenchServer.seed(store, 0..<count, bodies: bodies)
    }

    func removeStore(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    private func copyStore(_ source: String, _ destination: String) throws {
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: source + suffix) {
            try FileManager.default.copyItem(atPath: source + suffix, toPath: destination + suffix)
        }
    }
}
