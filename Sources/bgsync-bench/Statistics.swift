/// The minimum, median and maximum of a few measurements.
struct Summary: Sendable, Equatable {
    var min: Double
    var median: Double
    var max: Double
    var count: Int

    /// Summarises `values`; nil when there are none. The median of an even count is the mean
    /// of the two middle values.
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        min = sorted[0]
        max = sorted[sorted.count - 1]
        count = sorted.count
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
