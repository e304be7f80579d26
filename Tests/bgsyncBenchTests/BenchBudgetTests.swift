import BGSyncStore
import Testing
@testable import bgsync_bench

/// The budgets and the report of `bgsync-bench`, from made-up figures: every ratio comes from
/// the results given, none from a built-in reference. No test here measures time.
@Suite("bgsync-bench budgets and report")
struct BenchBudgetTests {
    /// A scenario with the given wall times (seconds), and optionally requests.
    static func scenario(_ key: String, _ walls: [Double], runner: Runner = .bgsync, docs: Int = 100_000,
                         requests: Int? = nil, rss: Int? = nil) -> ScenarioResult {
        ScenarioResult(key: key, title: key.replacingOccurrences(of: "_", with: " "), docs: docs, runner: runner,
                       samples: walls.map { RunSample(wallSeconds: $0, cpuSeconds: runner == .bgsync ? 1 : nil,
                                                      peakRSSBytes: runner == .bgsync ? rss : nil, requests: requests) })
    }

    /// A `--server` run: CouchDB's replicator median 30 s, pull 10 s, push 5 s, floor 9 s.
    static let serverResults: [ScenarioResult] = [
        scenario("floor", [9, 8.5, 9.5], runner: .inProcess),
        scenario("couchdb_replicate", [31, 30, 29], runner: .couchReplicator),
        scenario("couchdb_replicate_noop", [0.2, 0.1, 0.3], runner: .couchReplicator, docs: 0),
        scenario("initial_pull", [10, 11, 9.5], requests: 405, rss: 45_000_000),
        scenario("noop_sync", [0.025, 0.024, 0.030], docs: 0, requests: 4, rss: 36_000_000),
        scenario("noop_run", [0.0251, 0.0252, 0.02], docs: 0, requests: 5, rss: 37_000_000),
        scenario("initial_push", [5, 5.5, 6], requests: 403, rss: 44_000_000),
    ]

    static func check(_ checks: [BudgetCheck], _ key: String) throws -> BudgetCheck {
        try #require(checks.first { $0.key == key }, "no budget \(key) in \(checks.map(\.key))")
    }

    @Test("with --server the replicator ratios are this run's medians, judged against 4× and 5×")
    func serverRatios() throws {
        let checks = Budgets.check(Self.serverResults, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        let pull = try Self.check(checks, "pull_vs_couchdb")
        #expect(pull.value == 3.0)
        #expect(pull.budget == "≥ 4×")
        #expect(pull.met == false)
        #expect(pull.measured == "3.00× (30.00 s / 10.00 s)")
        let push = try Self.check(checks, "push_vs_couchdb")
        #expect(push.value == 30.0 / 5.5)
        #expect(push.budget == "≥ 5×")
        #expect(push.met == true)
        let floor = try Self.check(checks, "pull_vs_floor")
        #expect(floor.value == 10.0 / 9.0)
        #expect(floor.budget == "≤ 1.2×")
        #expect(floor.met == true)
    }

    @Test("a different replicator time gives a different ratio: no built-in reference figure")
    func noHardCodedReference() throws {
        var results = Self.serverResults
        results[1] = Self.scenario("couchdb_replicate", [50, 50, 50], runner: .couchReplicator)
        let checks = Budgets.check(results, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        #expect(try Self.check(checks, "pull_vs_couchdb").value == 5.0)
        #expect(try Self.check(checks, "pull_vs_couchdb").met == true)
        #expect(try Self.check(checks, "push_vs_couchdb").value == 50.0 / 5.5)
    }

    @Test("with --server a no-op run is judged ≤ 25 ms (inclusive) and ≤ 4 requests")
    func serverNoOp() throws {
        let checks = Budgets.check(Self.serverResults, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        let sync = try Self.check(checks, "noop_sync_wall")
        #expect(sync.budget == "≤ 25 ms")
        #expect(sync.met == true, "25.0 ms meets ≤ 25 ms")
        let run = try Self.check(checks, "noop_run_wall")
        #expect(run.met == false, "25.1 ms does not")
        #expect(try Self.check(checks, "noop_sync_requests").met == true)
        #expect(try Self.check(checks, "noop_run_requests").met == false)
    }

    @Test("a pull slower than 1.2× the floor fails the --server budget and meets the fixture's 1.5×")
    func floorBudgets() throws {
        var results = Self.serverResults
        results[0] = Self.scenario("floor", [7.5], runner: .inProcess)
        let server = try Self.check(Budgets.check(results, docs: 100_000, docSize: 1000, scale: 1, realServer: true), "pull_vs_floor")
        let fixture = try Self.check(Budgets.check(results, docs: 100_000, docSize: 1000, scale: 1, realServer: false), "pull_vs_floor")
        #expect(server.value == 10.0 / 7.5)
        #expect(server.met == false)
        #expect(fixture.budget == "≤ 1.5×")
        #expect(fixture.met == true)
    }

    @Test("without --server the replicator ratios are not measured, and the fixture budgets apply")
    func fixtureRun() throws {
        let results = Self.serverResults.filter { $0.runner != .couchReplicator }
        let checks = Budgets.check(results, docs: 100_000, docSize: 1000, scale: 1, realServer: false)
        for key in ["pull_vs_couchdb", "push_vs_couchdb"] {
            let check = try Self.check(checks, key)
            #expect(check.value == nil)
            #expect(check.met == nil)
            #expect(check.measured == "not measured (needs --server)")
        }
        let noOp = try Self.check(checks, "noop_sync_wall")
        #expect(noOp.budget == "< 50 ms")
        #expect(noOp.met == true)
    }

    @Test("peak RSS counts bgsync children only")
    func peakRSS() throws {
        let checks = Budgets.check(Self.serverResults, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        #expect(try Self.check(checks, "peak_rss").value == 45_000_000)
    }

    @Test("caveats name the budget set and a run at another N")
    func caveats() {
        #expect(Budgets.caveats(docs: 100_000, docSize: 1000, realServer: true).count == 1)
        let small = Budgets.caveats(docs: 10_000, docSize: 1000, realServer: false)
        #expect(small.count == 2)
        #expect(small.joined().contains("needs --server"))
        #expect(small.joined().contains("N = 10000"))
    }

    static func context(realServer: Bool) -> RunContext {
        RunContext(date: "2026-12-07T00:00:00Z", commit: "abc1234", processors: 2, cpuModel: "test", memoryBytes: 1 << 30,
                   server: "server http://127.0.0.1:5984", realServer: realServer, bgsync: "/bin/bgsync", docs: 100_000,
                   docSize: 1000, runs: 3, noOpRuns: 3, scale: 1, seedingSeconds: ["server (100000 docs)": 12.5],
                   loadAverage: ("1.00 1.00 1.00", "1.00 1.00 1.00"))
    }

    @Test("--json carries the replicator scenarios, their runner and every ratio")
    func jsonShape() throws {
        let checks = Budgets.check(Self.serverResults, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        let json = try JSONValue.parse(Report.json(Self.context(realServer: true), Self.serverResults, checks))
        #expect(json["budget_set"]?.stringValue == "server")
        let scenarios = try #require(json["scenarios"]?.arrayValue)
        let replicate = try #require(scenarios.first { $0["scenario"]?.stringValue == "couchdb_replicate" })
        #expect(replicate["runner"]?.stringValue == "couchdb_replicator")
        #expect(replicate["in_process"]?.boolValue == false)
        #expect(replicate["requests"] == .null)
        #expect(replicate["wall_seconds"]?["median"]?.doubleValue == 30)
        #expect(scenarios.first { $0["scenario"]?.stringValue == "couchdb_replicate_noop" } != nil)
        let budgets = try #require(json["budgets"]?.arrayValue)
        let pull = try #require(budgets.first { $0["budget"]?.stringValue == "pull_vs_couchdb" })
        #expect(pull["met"]?.boolValue == false)
        #expect(pull["limit"]?.stringValue == "≥ 4×")
        #expect(pull["value"]?.doubleValue == 3)
        #expect(json["notes"]?.arrayValue?.isEmpty == false)
    }

    @Test("--json of a fixture run: the replicator ratios are null, not a figure")
    func jsonFixture() throws {
        let results = Self.serverResults.filter { $0.runner != .couchReplicator }
        let checks = Budgets.check(results, docs: 100_000, docSize: 1000, scale: 1, realServer: false)
        let json = try JSONValue.parse(Report.json(Self.context(realServer: false), results, checks))
        #expect(json["budget_set"]?.stringValue == "fixture")
        let budgets = try #require(json["budgets"]?.arrayValue)
        let push = try #require(budgets.first { $0["budget"]?.stringValue == "push_vs_couchdb" })
        #expect(push["value"] == .null)
        #expect(push["met"] == .null)
    }

    @Test("the text report marks the replicator rows and prints the ratios' figures")
    func textReport() {
        let checks = Budgets.check(Self.serverResults, docs: 100_000, docSize: 1000, scale: 1, realServer: true)
        let text = Report.text(Self.context(realServer: true), Self.serverResults, checks)
        #expect(text.contains("couchdb replicate †"))
        #expect(text.contains("† the server's own replicator"))
        #expect(text.contains("3.00× (30.00 s / 10.00 s)"))
        #expect(!text.contains("29 s"))
    }

    @Test("the median of an even count is the mean of the middle two")
    func summary() {
        #expect(Summary([4, 1, 3, 2])?.median == 2.5)
        #expect(Summary([3, 1, 2])?.median == 2)
        #expect(Summary([]) == nil)
    }

    @Test("a JSON payload is judged on its cost above the baseline's peak; an attachment on its peak")
    func payloadBudgets() {
        func sample(_ rss: Int) -> RunSample { RunSample(wallSeconds: 1, cpuSeconds: 1, peakRSSBytes: rss, requests: 4) }
        var json = PayloadResult(key: "json", title: "json", bytes: 50_000_000, push: sample(139_000_000), pull: sample(160_000_000))
        #expect(json.costBytes == nil)
        #expect(json.met == false, "160 MB is over 125 MB when there is no baseline to take off")
        json.baselineRSSBytes = 36_000_000
        #expect(json.costBytes == 124_000_000)
        #expect(json.met == true, "124 MB of cost is within 2.5 × 50 MB")
        json.pull = sample(162_000_000)
        #expect(json.met == false)
        let attachment = PayloadResult(key: "attachment", title: "att", bytes: 1 << 30, push: sample(99_000_000), pull: sample(60_000_000))
        #expect(attachment.met == true)
        let baseline = PayloadResult(key: "baseline", title: "1 KB", bytes: 1000, push: sample(36_000_000), pull: sample(35_000_000))
        #expect(baseline.met == nil && baseline.budget == nil)
        let text = Report.payloadsText(Self.context(realServer: true), [baseline, attachment, json])
        #expect(text.contains("cost / size"))
    }
}
