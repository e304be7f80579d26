import Foundation

/// The one seeded generator (SplitMix64) of the tests and fuzzers: every randomised case can be
/// replayed from the seed its run prints.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose whole output is determined by `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `percent` / 100.
    public mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &self) < percent }

    /// A random element of a non-empty array.
    public mutating func pick<T>(_ items: [T]) -> T {
        items[Int.random(in: 0..<items.count, using: &self)]
    }

    /// `count` random lowercase hex digits.
    public mutating func hex(_ count: Int) -> String {
        let digits = Array("0123456789abcdef")
        return String((0..<count).map { _ in digits[Int.random(in: 0..<16, using: &self)] })
    }

    /// `BGSYNC_SEED`, read once per test process: the seed a failed run printed, to repeat it.
    public static let environmentSeed: UInt64? = ProcessInfo.processInfo.environment["BGSYNC_SEED"].flatMap { UInt64($0) }

    /// A seed from `BGSYNC_SEED` when set (to repeat a failure), else a fresh random one.
    public static func seedFromEnvironment() -> UInt64 {
        environmentSeed ?? UInt64.random(in: 0...UInt64(UInt32.max))
    }

    /// The seed of a randomised suite: `BGSYNC_SEED` when set, else `fixed` when given, else a
    /// fresh one; printed with the suite's name, so that a failure can be repeated.
    public static func seed(for suite: String, fixed: UInt64? = nil) -> UInt64 {
        let seed = environmentSeed ?? fixed ?? seedFromEnvironment()
        print("\(suite): seed \(seed) (BGSYNC_SEED=\(seed) repeats it)")
        return seed
    }
}
