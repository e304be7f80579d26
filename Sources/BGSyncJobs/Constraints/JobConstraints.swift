import BGSyncStore
import Foundation

/// The conditions a job needs before it runs: WorkManager's `Constraints` on Linux.
///
/// A job file's `[constraints]` table maps onto this value (`network`, `metered_unknown`,
/// `battery_not_low`, `min_battery_percent`, `requires_charging`, `storage_not_low`,
/// `min_free_storage`). A run whose constraints are unmet is skipped, records the failing
/// verdict's ``ConstraintVerdict/reason``, and the next timer firing tries again.
///
/// The defaults constrain nothing: ``evaluate(probe:databasePath:)`` then returns no verdicts.
package struct JobConstraints: Sendable, Equatable {
    /// The kind of network a job needs (WorkManager's `NetworkType`).
    package enum Network: String, Sendable, CaseIterable {
        /// No requirement (not evaluated).
        case any
        /// A default route (IPv4 or IPv6) must exist.
        case connected
        /// A default route whose interface is not metered (NetworkManager's `GENERAL.METERED`).
        case unmetered
        /// A default route that does not go through a roaming mobile modem (ModemManager).
        case notRoaming = "not-roaming"
    }

    /// How a metered state that cannot be found out (NetworkManager not running, `nmcli`
    /// missing, the device unmanaged) counts for ``Network/unmetered``.
    package enum MeteredUnknown: String, Sendable {
        /// Unknown counts as unmetered: the job runs (the default; most Linux machines without
        /// NetworkManager are servers on fixed lines).
        case unmetered
        /// Unknown counts as metered: the job waits until NetworkManager says "not metered".
        case metered
    }

    /// The network the job needs; ``Network/any`` (the default) is no constraint.
    package var network: Network = .any
    /// How an unknown metered state counts when ``network`` is ``Network/unmetered``.
    package var meteredUnknown: MeteredUnknown = .unmetered
    /// Whether the battery must not be low: above ``minBatteryPercent``, or the machine on AC.
    package var batteryNotLow = false
    /// The low-battery mark in percent: "not low" means strictly above it (or on AC).
    package var minBatteryPercent = 15
    /// Whether the machine must be charging: on AC with its battery charging, full, or held
    /// by a charge threshold; a machine on AC without a battery counts as charging.
    package var requiresCharging = false
    /// Whether free space on the database's filesystem must not be low: both
    /// ``minFreeStoragePercent`` and ``minFreeStorageBytes`` must hold.
    package var storageNotLow = false
    /// The free-space mark in percent of the filesystem's size (space available to
    /// unprivileged users).
    package var minFreeStoragePercent = 10.0
    /// The free-space mark in bytes (job files write it as `min_free_storage = "500 MB"`).
    package var minFreeStorageBytes: Int64 = 500_000_000

    /// No constraints: every property at its default.
    package init() {}
}

/// The outcome of one constraint: what was measured against which mark.
public struct ConstraintVerdict: Sendable, Equatable {
    /// The constraint's name as job files and status output write it: `network`,
    /// `battery_not_low`, `requires_charging` or `storage_not_low`.
    public var constraint: String
    /// Whether the constraint holds.
    public var satisfied: Bool
    /// What was measured, for people: `5 % (discharging)`, `metered (NetworkManager, wlan0)`,
    /// `1.2 GB free (3 %)`, `no default route`.
    public var measured: String
    /// What the constraint needs, for people: `above 15 % or on AC`, `unmetered`,
    /// `10 % and 500 MB free`.
    public var threshold: String

    /// Makes a verdict.
    public init(constraint: String, satisfied: Bool, measured: String, threshold: String) {
        self.constraint = constraint
        self.satisfied = satisfied
        self.measured = measured
        self.threshold = threshold
    }

    /// One line for logs and status, whether satisfied or not:
    /// `battery_not_low: 5 % (discharging), needs above 15 % or on AC`.
    public var reason: String { "\(constraint): \(measured), needs \(threshold)" }
}

extension JobConstraints {
    /// Evaluates every constraint that is set (unset ones are not listed), in a fixed order:
    /// `network`, `battery_not_low`, `requires_charging`, `storage_not_low`.
    ///
    /// Only what the set constraints need is probed: `nmcli` runs only for
    /// ``Network/unmetered``, `mmcli` only for ``Network/notRoaming``, the power supplies are
    /// read once for both battery constraints.
    /// - Parameters:
    ///   - probe: where the system's state is read.
    ///   - databasePath: the job's local store (it may not exist yet); its filesystem is the one
    ///     `storage_not_low` measures.
    /// - Returns: one verdict per set constraint; the job may run when all are satisfied.
    package func evaluate(probe: SystemProbe, databasePath: String) -> [ConstraintVerdict] {
        var verdicts: [ConstraintVerdict] = []
        if network != .any {
            var state = NetworkState(hasDefaultRoute: false, interface: nil, metered: nil, roaming: nil)
            if let route = probe.defaultRoute() {
                state.hasDefaultRoute = true
                state.interface = route
                if network == .unmetered { state.metered = probe.metered(interface: route) }
                if network == .notRoaming { state.roaming = probe.roaming(interface: route) }
            }
            verdicts.append(networkVerdict(state))
        }
        if batteryNotLow || requiresCharging {
            let power = probe.power()
            if batteryNotLow { verdicts.append(batteryNotLowVerdict(power)) }
            if requiresCharging { verdicts.append(Self.requiresChargingVerdict(power)) }
        }
        if storageNotLow {
            verdicts.append(storageVerdict(probe.storage(at: databasePath)))
        }
        return verdicts
    }

    // MARK: - Verdicts from measured states (pure)

    /// The `network` verdict for a measured state (``network`` must not be ``Network/any``).
    func networkVerdict(_ state: NetworkState) -> ConstraintVerdict {
        let threshold: String
        switch network {
        case .any: threshold = "any network"
        case .connected: threshold = "a default route"
        case .unmetered: threshold = "unmetered"
        case .notRoaming: threshold = "not roaming"
        }
        guard state.hasDefaultRoute else {
            return ConstraintVerdict(constraint: "network", satisfied: network == .any,
                                     measured: "no default route", threshold: threshold)
        }
        let interface = state.interface ?? "unknown interface"
        switch network {
        case .any, .connected:
            return ConstraintVerdict(constraint: "network", satisfied: true,
                                     measured: "default route via \(interface)", threshold: threshold)
        case .unmetered:
            let satisfied: Bool
            let measured: String
            switch state.metered {
            case true?:
                satisfied = false
                measured = "metered (NetworkManager, \(interface))"
            case false?:
                satisfied = true
                measured = "unmetered (NetworkManager, \(interface))"
            case nil:
                satisfied = meteredUnknown == .unmetered
                measured = "metered state unknown (\(interface)), counts as \(meteredUnknown.rawValue)"
            }
            return ConstraintVerdict(constraint: "network", satisfied: satisfied, measured: measured, threshold: threshold)
        case .notRoaming:
            let satisfied: Bool
            let measured: String
            switch state.roaming {
            case true?:
                satisfied = false
                measured = "roaming (ModemManager, \(interface))"
            case false?:
                satisfied = true
                measured = "not roaming (\(interface))"
            case nil:
                satisfied = true
                measured = "roaming state unknown (\(interface)), counts as not roaming"
            }
            return ConstraintVerdict(constraint: "network", satisfied: satisfied, measured: measured, threshold: threshold)
        }
    }

    /// The `battery_not_low` verdict: above ``minBatteryPercent`` or on AC. A battery whose level
    /// cannot be read counts as not low (as systemd does), so a broken `capacity` file does not
    /// hold a job back for ever.
    func batteryNotLowVerdict(_ power: PowerState) -> ConstraintVerdict {
        let threshold = "above \(minBatteryPercent) % or on AC"
        let satisfied: Bool
        if power.onAC {
            satisfied = true
        } else if let percent = power.batteryPercent {
            satisfied = percent > minBatteryPercent
        } else {
            satisfied = true
        }
        return ConstraintVerdict(constraint: "battery_not_low", satisfied: satisfied,
                                 measured: Self.describeBattery(power), threshold: threshold)
    }

    /// The `requires_charging` verdict: ``PowerState/charging``.
    static func requiresChargingVerdict(_ power: PowerState) -> ConstraintVerdict {
        let measured: String
        let level = power.batteryPercent.map { " (\($0) %)" } ?? ""
        if !power.onAC {
            measured = "discharging" + level
        } else if power.charging {
            measured = !power.hasBattery ? "on AC, no battery" : "charging" + level
        } else {
            measured = "on AC, not charging" + level
        }
        return ConstraintVerdict(constraint: "requires_charging", satisfied: power.charging,
                                 measured: measured, threshold: "charging (on AC)")
    }

    /// The `storage_not_low` verdict: at least ``minFreeStoragePercent`` and
    /// ``minFreeStorageBytes`` free. A filesystem whose size cannot be read counts as low.
    func storageVerdict(_ storage: StorageState) -> ConstraintVerdict {
        let threshold = "\(Self.formatPercent(minFreeStoragePercent)) % and \(ByteSize.format(minFreeStorageBytes)) free"
        guard storage.totalBytes > 0 else {
            return ConstraintVerdict(constraint: "storage_not_low", satisfied: false,
                                     measured: "free space unknown (\(storage.path))", threshold: threshold)
        }
        let percent = Double(storage.freeBytes) / Double(storage.totalBytes) * 100
        let satisfied = percent >= minFreeStoragePercent && storage.freeBytes >= minFreeStorageBytes
        let measured = "\(ByteSize.format(storage.freeBytes)) free (\(Self.formatPercent(percent)) %)"
        return ConstraintVerdict(constraint: "storage_not_low", satisfied: satisfied, measured: measured, threshold: threshold)
    }

    /// `5 % (discharging)`, `80 % (charging)`, `5 % (on AC)`, `on AC, no battery`.
    static func describeBattery(_ power: PowerState) -> String {
        let state = !power.onAC ? "discharging" : power.charging ? "charging" : "on AC"
        if let percent = power.batteryPercent { return "\(percent) % (\(state))" }
        if power.onAC && !power.hasBattery { return "on AC, no battery" }
        return "battery level unknown (\(state))"
    }

    /// A percentage with at most one decimal, cut (not rounded) so that a value below a mark
    /// never prints as the mark itself: `3`, `9.9`, `12.5`.
    static func formatPercent(_ value: Double) -> String {
        let tenths = (value * 10).rounded(.down)
        if tenths.truncatingRemainder(dividingBy: 10) == 0 { return String(Int(tenths / 10)) }
        return String(format: "%.1f", tenths / 10)
    }
}
