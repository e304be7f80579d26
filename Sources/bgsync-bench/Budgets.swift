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

/// The budgets of DESIGN §8.
enum Budgets {
    /// CouchDB 3.4.3's replicator copied 100,000 ~1 KB documents in about 29 s on this kind of
    /// machine (DESIGN §8); scaled linearly by N. A reference figure, not measured here.
    static let couchReplicatorSecondsPer100k = 29.0
    /// Memory is flat when the peak RSS at scale×N is at most this multiple of the one at N.
    static let flatRSSFactor = 1.25
    static let maxRSSBytes = 100 * 1_000_000
    static let noOpSeconds = 0.050
    static let noOpRequests = 4

    static func check(_ results: [ScenarioResult], docs: Int, docSize: Int, scale: Int) -> [BudgetCheck] {
        func result(_ key: String) -> ScenarioResult? { results.first { $0.key == key } }
        var checks: [BudgetCheck] = []
        let reference = couchReplicatorSecondsPer100k * Double(docs) / 100_000
        var referenceNote = "reference figure, not measured in this run: CouchDB 3.4.3's replicator ≈ 29 s per 100,000 ~1 KB docs on this kind of machine, scaled linearly to N = \(docs): \(format(reference, digits: 2)) s"
        if docSize < 800 || docSize > 1250 { referenceNote += "; it was measured with ~1 KB docs, this run uses \(docSize) bytes" }

        if let pull = result("initial_pull")?.wall, let floor = result("floor")?.wall {
            let ratio = pull.median / floor.median
            checks.append(BudgetCheck(key: "pull_vs_floor", figure: "initial pull / floor", measured: format(ratio, digits: 2) + "×",
                                      value: ratio, budget: "≤ 1.5×", met: ratio <= 1.5,
                                      note: "median \(format(pull.median, digits: 3)) s / median \(format(floor.median, digits: 3)) s"))
        }
        if let pull = result("initial_pull")?.wall {
            let speedup = reference / pull.median
            checks.append(BudgetCheck(key: "pull_vs_couchdb", figure: "initial pull vs CouchDB replicator (reference)",
                                      measured: format(speedup, digits: 2) + "× faster", value: speedup, budget: "≥ 2×",
                                      met: speedup >= 2, note: referenceNote))
        }
        if let push = result("initial_push")?.wall {
            let speedup = reference / push.median
            checks.append(BudgetCheck(key: "push_vs_couchdb", figure: "initial push vs CouchDB replicator (reference)",
                                      measured: format(speedup, digits: 2) + "× faster", value: speedup, budget: "≥ 3×",
                                      met: speedup >= 3, note: referenceNote))
        }
        for key in ["noop_sync", "noop_run"] {
            guard let noOp = result(key), let wall = noOp.wall else { continue }
            checks.append(BudgetCheck(key: key + "_wall", figure: noOp.title + ": wall time", measured: format(wall.median * 1000, digits: 1) + " ms",
                                      value: wall.median, budget: "< 50 ms", met: wall.median < noOpSeconds,
                                      note: "median of \(wall.count) runs, including process start-up"))
            let requests = noOp.requests
            checks.append(BudgetCheck(key: key + "_requests", figure: noOp.title + ": HTTP requests",
                                      measured: requests.map(String.init) ?? "unknown", value: requests.map(Double.init),
                                      budget: "≤ 4", met: requests.map { $0 <= noOpRequests }, note: nil))
        }
        let peaks = results.filter { !$0.inProcess }.compactMap(\.peakRSSBytes)
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

    static func megabytes(_ bytes: Int) -> String {
        format(Double(bytes) / 1_000_000, digits: 1)
    }
}

/// `value` with `digits` decimals.
func format(_ value: Double, digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}
