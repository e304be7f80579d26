/// The machine's power, as read from `sys/class/power_supply` by ``SystemProbe/power()``.
package struct PowerState: Sendable, Equatable {
    /// Whether the machine runs on external power, by systemd's `on_ac_power()` rule: any online
    /// supply that is not a battery means AC; otherwise a discharging battery means battery;
    /// no supplies at all (a desktop or server) means AC.
    package var onAC: Bool
    /// The average capacity in percent of the system batteries whose level is readable, or nil
    /// when there is none.
    package var batteryPercent: Int?
    /// Whether the machine counts as charging: on AC, and a system battery is `Charging`,
    /// `Full` or `Not charging` (held by a charge threshold while plugged in), or there is no
    /// system battery at all.
    package var charging: Bool
    /// The names of the power supplies found (`AC`, `BAT0`, `ucsi-source-psy-…`), sorted.
    package var supplies: [String]
    /// Whether at least one system battery is present (device batteries such as a mouse's, and
    /// absent batteries, do not count).
    package var hasBattery: Bool

    /// Makes a power state; `hasBattery` defaults to whether a battery level is known.
    package init(onAC: Bool, batteryPercent: Int?, charging: Bool, supplies: [String], hasBattery: Bool? = nil) {
        self.onAC = onAC
        self.batteryPercent = batteryPercent
        self.charging = charging
        self.supplies = supplies
        self.hasBattery = hasBattery ?? (batteryPercent != nil)
    }
}

/// The machine's network, as found by ``SystemProbe/network()``.
package struct NetworkState: Sendable, Equatable {
    /// Whether an IPv4 or IPv6 default route is up.
    package var hasDefaultRoute: Bool
    /// The interface of the default route (the IPv4 one first, then the lowest metric).
    package var interface: String?
    /// Whether NetworkManager considers that interface metered (`yes`/`yes (guessed)` → true,
    /// `no`/`no (guessed)` → false); nil when unknown.
    package var metered: Bool?
    /// Whether the default route goes through a modem that ModemManager reports as roaming;
    /// false when it goes through another interface; nil when unknown.
    package var roaming: Bool?

    /// Makes a network state.
    package init(hasDefaultRoute: Bool, interface: String?, metered: Bool?, roaming: Bool?) {
        self.hasDefaultRoute = hasDefaultRoute
        self.interface = interface
        self.metered = metered
        self.roaming = roaming
    }
}

/// Free space of a filesystem, as read by ``SystemProbe/storage(at:)``.
package struct StorageState: Sendable, Equatable {
    /// Bytes available to unprivileged users (`f_bavail * f_frsize`).
    package var freeBytes: Int64
    /// The filesystem's size (`f_blocks * f_frsize`); 0 when it could not be read.
    package var totalBytes: Int64
    /// The existing directory that was measured.
    package var path: String

    /// Makes a storage state.
    package init(freeBytes: Int64, totalBytes: Int64, path: String) {
        self.freeBytes = freeBytes
        self.totalBytes = totalBytes
        self.path = path
    }
}
