/// One budget of DESIGN §8 checked against the measured figures.
struct BudgetCheck: Sendable {
    /// A stable key for JSON.
    var key: String
    /// What is compared, e.g. `initial pull / floor`.
    var figure: String
    /// The measured value as shown, e.g. `1.32×`.
    var measured: String
    /// The measured value as a number (for JSON); nil when not measured.
    var value: Double?
    /// The budget as shown, e.g. `≤ 1.5×`.
    var budget: String
    /// Whether it is met; nil when it could not be measured in this run.
    var met: Bool?
    /// A note, e.g. where a reference figure comes from.
    var note: String?
}

/// The budgets of DESIGN §8, stated for N = 100,000 documents of ~1 KB. Every ratio is
/// computed from figures measured in the same run: the floor against the same server and,
/// with `--server`, CouchDB's own replicator (`POST /_replicate`) on that server.
enum Budgets {
    /// Which budgets apply: a real server's (`--server`) or the fixture server's.
    struct Limits: Sendable, Equatable {
        /// Initial pull / floor at most this.
        var pullOverFloor: Double
        /// CouchDB replicator time / initial pull time at least this.
        var pullSpeedup: Double
        /// CouchDB replicator time / initial push time at least this.
        var pushSpeedup: Double
        /// Median no-op wall time at most (`inclusive`) or below this.
        var noOpSeconds: Double
        var noOpInclusive: Bool

        /// `--server` (a real CouchDB): pull ≤ 1.2× the floor, ≥ 4× faster than CouchDB's
        /// replicator, push ≥ 5× faster, a no-op run ≤ 25 ms.
        static let server = Limits(pullOverFloor: 1.2, pullSpeedup: 4, pushSpeedup: 5, noOpSeconds: 0.025, noOpInclusive: true)
        /// The in-process fixture server: pull ≤ 1.5× the floor, a no-op run < 50 ms. The
        /// replicator ratios cannot be measured there (it has no `_replicate`); the server's
        /// figures are shown as not measured.
        static let fixture = Limits(pullOverFloor: 1.5, pullSpeedup: 4, pushSpeedup: 5, noOpSeconds: 0.050, noOpInclusive: false)

        var noOpBudget: String {
            (noOpInclusive ? "≤ " : "< ") + format(noOpSeconds * 1000, digits: 0) + " ms"
        }

        func noOpMet(_ seconds: Double) -> Bool {
            noOpInclusive ? seconds <= noOpSeconds : seconds < noOpSeconds
        }
    }

    /// The N the budgets are stated for.
    static let statedDocs = 100_000
    /// Memory is flat when the peak RSS at scale×N is at most this multiple of the one at N.
    static let flatRSSFactor = 1.25
    static let maxRSSBytes = 100 * 1_000_000
    static let noOpRequests = 4

    /// Checks the budgets against `results`; `realServer` is true with `--server`.
    static func check(_ results: [ScenarioResult], docs: Int, docSize: Int, scale: Int, realServer: Bool) -> [BudgetCheck] {
        func result(_ key: String) -> ScenarioResult? { results.first { $0.key == key } }
        let limits = realServer ? Limits.server : Limits.fixture
        var checks: [BudgetCheck] = []

        if let pull = result("initial_pull")?.wall, let floor = result("floor")?.wall {
            let ratio = pull.median / floor.median
            checks.append(BudgetCheck(key: "pull_vs_floor", figure: "initial pull / floor",
                                      measured: format(ratio, digits: 2) + "× (\(seconds(pull.median)) / \(seconds(floor.median)))",
                                      value: ratio, budget: "≤ " + times(limits.pullOverFloor), met: ratio <= limits.pullOverFloor,
                                      note: "median initial pull / median floor, both against this run's server"))
        }
        let replicator = result("couchdb_replicate")?.wall
        for (key, scenario, what, limit) in [("pull_vs_couchdb", "initial_pull", "initial pull", limits.pullSpeedup),
                                              ("push_vs_couchdb", "initial_push", "initial push", limits.pushSpeedup)] {
            guard let own = result(scenario)?.wall else { continue }
            let figure = "\(what): CouchDB _replicate time / bgsync time"
            if let replicator {
                let speedup = replicator.median / own.median
                checks.append(BudgetCheck(key: key, figure: figure,
                                          measured: format(speedup, digits: 2) + "× (\(seconds(replicator.median)) / \(seconds(own.median)))",
                                          value: speedup, budget: "≥ " + times(limit), met: speedup >= limit,
                                          note: "median CouchDB _replicate into a new database / median \(what), measured in this run"))
            } else {
                checks.append(BudgetCheck(key: key, figure: figure, measured: "not measured (needs --server)", value: nil,
                                          budget: "≥ " + times(limit), met: nil,
                                          note: "the fixture server has no replicator: run with --server against a CouchDB"))
            }
        }
        for key in ["noop_sync", "noop_run"] {
            guard let noOp = result(key), let wall = noOp.wall else { continue }
            checks.append(BudgetCheck(key: key + "_wall", figure: noOp.title + ": wall time", measured: format(wall.median * 1000, digits: 1) + " ms",
                                      value: wall.median, budget: limits.noOpBudget, met: limits.noOpMet(wall.median),
                                      note: "median of \(wall.count) runs, including process start-up"))
            let requests = noOp.requests
            checks.append(BudgetCheck(key: key + "_requests", figure: noOp.title + ": HTTP requests",
                                      measured: requests.map(String.init) ?? "unknown", value: requests.map(Double.init),
                                      budget: "≤ \(noOpRequests)", met: requests.map { $0 <= noOpRequests }, note: nil))
        }
        let peaks = results.filter { $0.runner == .bgsync }.compactMap(\.peakRSSBytes)
        if let peak = peaks.max() {
            checks.append(BudgetCheck(key: "peak_rss", figure: "peak RSS of bgsync, all scenarios", measured: megabytes(peak) + " MB",
                                      value: Double(peak), budget: "< 100 MB", met: peak < maxRSSBytes, note: "MB = 10^6 bytes"))
        }
        if let atN = result("initial_pull")?.peakRSSBytes {
            if let scaled = result("initial_pull_scaled")?.peakRSSBytes {
                let factor = Double(scaled) / Double(atN)
                checks.append(BudgetCheck(key: "rss_flat", figure: "peak RSS flat: initial pull at \(scale)×N / at N",
                                          measured: format(factor, digits: 2) + "× (\(megabytes(scaled)) / \(megabytes(atN)) MB)",
                                          value: factor, budget: "≤ \(format(flatRSSFactor, digits: 2))×", met: factor <= flatRSSFactor,
                                          note: "criterion: the scale×N pull's peak RSS within 1.25× of the N pull's (highest of its runs)"))
            } else {
                checks.append(BudgetCheck(key: "rss_flat", figure: "peak RSS flat: initial pull at scale×N / at N", measured: "not measured (--scale 1)",
                                          value: nil, budget: "≤ \(format(flatRSSFactor, digits: 2))×", met: nil, note: nil))
            }
        }
        return checks
    }

    /// Caveats printed under the budget table: budgets stated for another N or size.
    static func caveats(docs: Int, docSize: Int, realServer: Bool) -> [String] {
        var lines: [String] = []
        lines.append(realServer
            ? "budgets for --server runs; every ratio is computed from this run's medians (CouchDB's replicator and the floor against the same server)"
            : "fixture-server budgets; the CouchDB replicator ratios are not measured here (needs --server, a real CouchDB)")
        if docs != statedDocs || docSize < 800 || docSize > 1250 {
            lines.append("the budgets are stated for N = 100,000 documents of ~1 KB; this run uses N = \(docs) of ~\(docSize) bytes")
        }
        return lines
    }

    static func seconds(_ value: Double) -> String {
        format(value, digits: value < 10 ? 3 : 2) + " s"
    }

    static func times(_ value: Double) -> String {
        (value == value.rounded() ? format(value, digits: 0) : format(value, digits: 1)) + "×"
    }

    static func megabytes(_ bytes: Int) -> String {
        format(Double(bytes) / 1_000_000, digits: 1)
    }
}

/// `value` with `digits` decimals.
func format(_ value: Double, digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}
