import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the machine's power, network and storage state for job constraints.
///
/// Every file is read through ``root`` (`/` in production; tests point it at a fake tree with
/// `sys/class/power_supply/…`, `proc/net/route` and `proc/net/ipv6_route`). Programs
/// (`nmcli`, `mmcli`) are looked up in ``path`` only, run without a shell with `LC_ALL=C`, and
/// killed (with everything they started) after ``commandTimeout``. Nothing here changes
/// process-wide state, so probes with different roots may be used in parallel.
package struct SystemProbe: Sendable {
    /// The directory that stands for `/` when reading `sys/…` and `proc/…`.
    package var root: String
    /// The `PATH` value used to find `nmcli` and `mmcli`; nil runs neither (metered and roaming
    /// are then unknown).
    package var path: String?
    /// Seconds after which `nmcli` or `mmcli` is killed and its answer counts as unknown.
    package var commandTimeout: Double = 3

    /// A probe reading through `root`, finding programs in `path` (the `PATH` value to use;
    /// nil = run no programs).
    package init(root: String = "/", path: String?) {
        self.root = root.isEmpty ? "/" : root
        self.path = path
    }

    /// A probe configured as the CLI's environment says: `BGSYNC_SYSTEM_ROOT` (default `/`)
    /// and `PATH` (default: run no programs). Pass the environment in; nothing is read from
    /// the process here.
    package init(environment: [String: String]) {
        let root = environment["BGSYNC_SYSTEM_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        self.init(root: root, path: environment["PATH"])
    }

    // MARK: - Power

    /// The power state from `<root>/sys/class/power_supply/*/{type,online,capacity,status}`,
    /// following systemd's `on_ac_power()`:
    /// * a supply without a readable `type` is ignored;
    /// * a `USB` supply whose Type-C ports are all in source mode (the machine powers a device)
    ///   is ignored (`device/typec/*/power_role`);
    /// * a `Battery` with `scope` `Device` (a mouse's) or `present` `0` is ignored; any other
    ///   battery is a system battery, discharging when its `status` is `Discharging` or missing;
    /// * any other supply with `online` above 0 means AC;
    /// * on AC when some non-battery supply is online, or when no system battery discharges
    ///   (hence a machine without supplies is on AC).
    ///
    /// The battery level is the average `capacity` (0…100) of the system batteries that have one.
    package func power() -> PowerState {
        let directory = resolve("sys/class/power_supply")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { !$0.hasPrefix(".") }
            .sorted()
        var acOnline = false
        var dischargingBattery = false
        var batteryStatuses: [String] = []
        var capacities: [Int] = []
        var hasBattery = false
        for name in names {
            let supply = directory + "/" + name
            guard let type = Self.readValue(supply + "/type") else { continue }
            if type == "USB" && !usbIsPowerSink(supply) { continue }
            if type == "Battery" {
                if Self.readValue(supply + "/scope") == "Device" { continue }
                if let present = Self.readValue(supply + "/present"), Int(present) == 0 { continue }
                hasBattery = true
                let status = Self.readValue(supply + "/status")
                if status == nil || status == "Discharging" { dischargingBattery = true }
                if let status { batteryStatuses.append(status) }
                if let capacity = Self.readValue(supply + "/capacity").flatMap({ Int($0) }), (0...100).contains(capacity) {
                    capacities.append(capacity)
                }
                continue
            }
            if let online = Self.readValue(supply + "/online").flatMap({ Int($0) }), online > 0 {
                acOnline = true
            }
        }
        let onAC = acOnline || !dischargingBattery
        let percent = capacities.isEmpty
            ? nil
            : Int((Double(capacities.reduce(0, +)) / Double(capacities.count)).rounded())
        let chargingStatuses: Set<String> = ["Charging", "Full", "Not charging"]
        let charging = onAC && (!hasBattery || batteryStatuses.contains { chargingStatuses.contains($0) })
        return PowerState(onAC: onAC, batteryPercent: percent, charging: charging, supplies: names, hasBattery: hasBattery)
    }

    /// systemd's `device_is_power_sink()`: a USB supply counts unless all of its Type-C ports
    /// are in source mode (no port information at all counts as a sink).
    private func usbIsPowerSink(_ supply: String) -> Bool {
        let typec = supply + "/device/typec"
        let ports = (try? FileManager.default.contentsOfDirectory(atPath: typec)) ?? []
        var foundSource = false
        for port in ports {
            guard let role = Self.readValue(typec + "/" + port + "/power_role") else { continue }
            if role.contains("[sink]") { return true }
            if role.contains("[source]") { foundSource = true }
        }
        return !foundSource
    }

    // MARK: - Network

    /// The network state: the default route from `<root>/proc/net/route`, else
    /// `<root>/proc/net/ipv6_route`; metered from NetworkManager (``metered(interface:)``);
    /// roaming from ModemManager (``roaming(interface:)``). Runs `nmcli` and `mmcli` when a
    /// default route exists and ``path`` is set; ``JobConstraints/evaluate(probe:databasePath:)``
    /// runs only the one its network constraint needs.
    package func network() -> NetworkState {
        guard let interface = defaultRoute() else {
            return NetworkState(hasDefaultRoute: false, interface: nil, metered: nil, roaming: nil)
        }
        return NetworkState(hasDefaultRoute: true, interface: interface,
                            metered: metered(interface: interface), roaming: roaming(interface: interface))
    }

    /// The interface of the default route (IPv4 first, then IPv6; the lowest metric of each),
    /// or nil when there is none.
    func defaultRoute() -> String? {
        if let text = Self.readFile(resolve("proc/net/route")), let interface = Self.ipv4DefaultRoute(text) {
            return interface
        }
        if let text = Self.readFile(resolve("proc/net/ipv6_route")), let interface = Self.ipv6DefaultRoute(text) {
            return interface
        }
        return nil
    }

    /// Whether NetworkManager calls `interface` metered: `nmcli -t -f GENERAL.METERED device show
    /// <interface>`; nil when `nmcli` is not on ``path``, fails (NetworkManager not running,
    /// device unmanaged), times out or answers `unknown`.
    func metered(interface: String) -> Bool? {
        guard let nmcli = findProgram("nmcli"),
              let output = runStatusProgram(nmcli, ["-t", "-f", "GENERAL.METERED", "device", "show", interface])
        else { return nil }
        return Self.parseMetered(output)
    }

    /// Whether the default route's `interface` goes through a roaming modem: `mmcli -m any -K`
    /// (the first modem) and its `modem.3gpp.registration-state` (`roaming…` → true,
    /// `home…` → false, anything else → nil). The interface counts as the modem's when its name
    /// starts with `ww` (`wwan0`, `wwp0s20f0u6i12`) or is one of the modem's ports
    /// (`modem.generic.primary-port`, `modem.generic.ports.value[N]`); another interface is not
    /// roaming (false). Nil when `mmcli` is not on ``path``, fails or times out. (A PPP link
    /// such as `ppp0` is not recognised as the modem's.)
    func roaming(interface: String) -> Bool? {
        guard let mmcli = findProgram("mmcli"),
              let output = runStatusProgram(mmcli, ["-m", "any", "-K"])
        else { return nil }
        let modem = Self.parseModem(output)
        guard interface.hasPrefix("ww") || modem.ports.contains(interface) else { return false }
        guard let state = modem.registrationState else { return nil }
        if state.hasPrefix("roaming") { return true }
        if state.hasPrefix("home") { return false }
        return nil
    }

    // MARK: - Storage

    /// Free space on the filesystem holding `path` (a real path, not read through ``root``):
    /// `statvfs` on `path` or, when it does not exist yet (a database not created yet), on its
    /// nearest existing ancestor directory. Relative paths are taken from the current directory.
    /// When `statvfs` fails, ``StorageState/totalBytes`` is 0.
    package func storage(at path: String) -> StorageState {
        var directory = URL(fileURLWithPath: path.isEmpty ? "." : path).standardizedFileURL.path
        while directory != "/" && !Self.isDirectory(directory) {
            directory = (directory as NSString).deletingLastPathComponent
            if directory.isEmpty { directory = "/" }
        }
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else {
            return StorageState(freeBytes: 0, totalBytes: 0, path: directory)
        }
        let fragment = Int64(info.f_frsize == 0 ? info.f_bsize : info.f_frsize)
        return StorageState(freeBytes: Int64(info.f_bavail) * fragment, totalBytes: Int64(info.f_blocks) * fragment,
                            path: directory)
    }

    // MARK: - Parsing (pure)

    /// The interface of the best IPv4 default route in `/proc/net/route` text: Destination and
    /// Mask `00000000`, RTF_UP set, RTF_REJECT not; the lowest Metric wins.
    static func ipv4DefaultRoute(_ text: String) -> String? {
        var best: (interface: String, metric: Int)?
        for line in text.split(whereSeparator: \.isNewline).dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8,
                  fields[1] == "00000000", fields[7] == "00000000",
                  let flags = UInt32(fields[3], radix: 16),
                  flags & rtfUp != 0, flags & rtfReject == 0
            else { continue }
            let metric = Int(fields[6]) ?? 0
            if best == nil || metric < best!.metric { best = (String(fields[0]), metric) }
        }
        return best?.interface
    }

    /// The interface of the best IPv6 default route in `/proc/net/ipv6_route` text: destination
    /// `::/0`, RTF_UP set, RTF_REJECT not, device not `lo`; the lowest metric wins.
    static func ipv6DefaultRoute(_ text: String) -> String? {
        var best: (interface: String, metric: UInt32)?
        let zeros = String(repeating: "0", count: 32)
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 10,
                  fields[0] == zeros, fields[1] == "00",
                  fields[9] != "lo",
                  let flags = UInt32(fields[8], radix: 16),
                  flags & rtfUp != 0, flags & rtfReject == 0
            else { continue }
            let metric = UInt32(fields[5], radix: 16) ?? 0
            if best == nil || metric < best!.metric { best = (String(fields[9]), metric) }
        }
        return best?.interface
    }

    /// NetworkManager's metered value from `nmcli -t -f GENERAL.METERED device show` output
    /// (`GENERAL.METERED:yes (guessed)`; a bare value as `-g` prints is accepted too):
    /// `yes…` → true, `no…` → false, anything else (`unknown`) → nil.
    static func parseMetered(_ output: String) -> Bool? {
        for line in output.split(whereSeparator: \.isNewline) {
            var value = Substring(line)
            if let colon = value.firstIndex(of: ":") {
                guard value[..<colon].trimmingCharacters(in: .whitespaces).uppercased() == "GENERAL.METERED" else { continue }
                value = value[value.index(after: colon)...]
            }
            let word = value.trimmingCharacters(in: .whitespaces).lowercased()
                .prefix { $0.isLetter || $0 == "-" }
            switch word {
            case "yes", "guess-yes": return true
            case "no", "guess-no": return false
            default: return nil
            }
        }
        return nil
    }

    /// The first modem in `mmcli -m any -K` output (`key : value` lines, keys padded with
    /// spaces, `--` for none): its 3GPP registration state and the names of its ports.
    static func parseModem(_ output: String) -> (registrationState: String?, ports: [String]) {
        var state: String?
        var ports: [String] = []
        for line in output.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty, value != "--" else { continue }
            if key == "modem.3gpp.registration-state" {
                state = value.lowercased()
            } else if key == "modem.generic.primary-port" || key.hasPrefix("modem.generic.ports.value") {
                // "wwan0 (net)" → "wwan0"
                if let name = value.split(separator: " ").first { ports.append(String(name)) }
            }
        }
        return (state, ports)
    }

    // MARK: - Helpers

    private static let rtfUp: UInt32 = 0x0001
    private static let rtfReject: UInt32 = 0x0200

    /// `relative` (`sys/class/…`) under ``root``.
    func resolve(_ relative: String) -> String {
        var base = root
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return base == "/" ? "/" + relative : base + "/" + relative
    }

    /// The first executable regular file named `name` in ``path``'s absolute entries.
    func findProgram(_ name: String) -> String? {
        guard let path else { return nil }
        for entry in path.split(separator: ":") where entry.hasPrefix("/") {
            let candidate = entry.hasSuffix("/") ? String(entry) + name : String(entry) + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Standard output of `program arguments…` (through ``ChildProcess``, synchronously: probes
    /// are synchronous and their timeout short) when it exits with status 0 within
    /// ``commandTimeout``; nil when it cannot be started, fails or times out.
    private func runStatusProgram(_ program: String, _ arguments: [String]) -> String? {
        guard let outcome = try? ChildProcess.runSynchronously([program] + arguments, environment: childEnvironment(),
                                                               timeout: commandTimeout, maxOutput: 1 << 20),
              outcome.succeeded
        else { return nil }
        return String(decoding: outcome.stdout, as: UTF8.self)
    }

    /// The child's environment: this process's, with `PATH` = ``path`` and the C locale (so
    /// `nmcli` prints `yes`/`no` untranslated).
    private func childEnvironment() -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PATH"] = path
        environment["LC_ALL"] = "C"
        environment["LANG"] = "C"
        environment.removeValue(forKey: "LANGUAGE")
        return environment
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// A sysfs attribute, trimmed; nil when missing, unreadable or empty.
    static func readValue(_ path: String) -> String? {
        guard let text = readFile(path, limit: 4096) else { return nil }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// A whole small file (sysfs and procfs report sizes of 0 or 4096, so read to the end).
    static func readFile(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < limit {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
