import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import BGSyncJobs

/// A temporary directory for one constraints test: a fake system root (`root/sys/…`,
/// `root/proc/…`) and a `bin` directory for fake `nmcli`/`mmcli` scripts. Unique per test,
/// removed afterwards; nothing process-wide is changed.
struct ConstraintSandbox {
    /// The temporary directory itself.
    let directory: String
    /// The fake system root.
    var root: String { directory + "/root" }
    /// Where fake programs go.
    var bin: String { directory + "/bin" }
    /// A PATH with the fake programs first (the scripts need `sh` and `sleep`).
    var path: String { bin + ":/usr/bin:/bin" }

    /// Runs `body` with a fresh sandbox and removes it afterwards.
    static func with<T>(_ body: (ConstraintSandbox) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("bgsync-constraints-\(UUID().uuidString)").path
        let sandbox = ConstraintSandbox(directory: directory)
        try FileManager.default.createDirectory(atPath: sandbox.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: sandbox.bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        return try body(sandbox)
    }

    /// Another sandbox inside this one (removed with it), for a second set of fake programs.
    func nested(_ name: String) throws -> ConstraintSandbox {
        let nested = ConstraintSandbox(directory: directory + "/" + name)
        try FileManager.default.createDirectory(atPath: nested.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: nested.bin, withIntermediateDirectories: true)
        return nested
    }

    /// A probe of the fake root; programs from ``path`` unless told otherwise.
    func probe(timeout: Double = 3) -> SystemProbe {
        probe(path: path, timeout: timeout)
    }

    /// A probe of the fake root finding programs in `path` (nil: none).
    func probe(path: String?, timeout: Double = 3) -> SystemProbe {
        var probe = SystemProbe(root: root, path: path)
        probe.commandTimeout = timeout
        return probe
    }

    /// Writes `contents` to `relative` under the root, creating directories.
    func write(_ relative: String, _ contents: String) throws {
        let file = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try contents.write(toFile: file, atomically: false, encoding: .utf8)
    }

    /// A power supply `sys/class/power_supply/<name>` with the given attribute files
    /// (`type`, `online`, `capacity`, `status`, `scope`, `present`…), written as sysfs does
    /// (with a trailing newline).
    func supply(_ name: String, _ attributes: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: root + "/sys/class/power_supply/" + name,
                                                withIntermediateDirectories: true)
        for (key, value) in attributes {
            try write("sys/class/power_supply/\(name)/\(key)", value + "\n")
        }
    }

    /// A laptop: an `AC` adapter and one battery `BAT0`.
    func laptop(acOnline: Bool, capacity: Int, status: String) throws {
        try supply("AC", ["type": "Mains", "online": acOnline ? "1" : "0"])
        try supply("BAT0", ["type": "Battery", "present": "1", "capacity": "\(capacity)", "status": status,
                            "scope": "System"])
    }

    static let routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\t\t\n"

    /// `proc/net/route` with the header and `rows` (`Iface Destination Gateway Flags RefCnt Use
    /// Metric Mask MTU Window IRTT`, tab-separated as the kernel writes them).
    func ipv4Routes(_ rows: [[String]]) throws {
        try write("proc/net/route", Self.routeHeader + rows.map { $0.joined(separator: "\t") + "\t\n" }.joined())
    }

    /// `proc/net/ipv6_route` rows as the kernel writes them (space-separated, device padded).
    func ipv6Routes(_ rows: [String]) throws {
        try write("proc/net/ipv6_route", rows.map { $0 + "\n" }.joined())
    }

    /// A default IPv4 route via `interface`.
    func defaultRoute(via interface: String) throws {
        try ipv4Routes([
            [interface, "00000000", "0101A8C0", "0003", "0", "0", "600", "00000000", "0", "0", "0"],
            [interface, "0001A8C0", "00000000", "0001", "0", "0", "600", "00FFFFFF", "0", "0", "0"],
        ])
    }

    /// An executable shell script `bin/<name>`. Written through a close-on-exec descriptor so
    /// that a child started meanwhile by a parallel test cannot keep it open for writing.
    func script(_ name: String, _ body: String) throws {
        let file = bin + "/" + name
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw CocoaError(.fileWriteUnknown) }
        let bytes = Array(("#!/bin/sh\n" + body + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw CocoaError(.fileWriteUnknown) }
        _ = chmod(file, 0o755)
    }

    /// A fake `nmcli` that answers `GENERAL.METERED` for `interface` with `value` (terse mode, as
    /// `nmcli -t -f GENERAL.METERED device show IFACE` prints it), and fails like nmcli
    /// (exit 10, "Device … not found") for any other arguments.
    func nmcli(interface: String, value: String) throws {
        try script("nmcli", """
            if [ "$*" = "-t -f GENERAL.METERED device show \(interface)" ]; then
              echo 'GENERAL.METERED:\(value)'
            else
              echo "Error: Device '$5' not found." >&2
              exit 10
            fi
            """)
    }

    /// A fake `mmcli -m any -K` for a modem with net port `port` and the registration `state`,
    /// in mmcli's key-value format (keys padded, `--` for empty values).
    func mmcli(port: String, state: String) throws {
        try script("mmcli", """
            [ "$*" = "-m any -K" ] || exit 1
            cat <<'EOF'
            modem.dbus-path                                 : /org/freedesktop/ModemManager1/Modem/0
            modem.generic.primary-port                      : cdc-wdm0
            modem.generic.ports.length                      : 2
            modem.generic.ports.value[1]                    : cdc-wdm0 (qmi)
            modem.generic.ports.value[2]                    : \(port) (net)
            modem.generic.state                             : connected
            modem.generic.own-numbers.length                : 0
            modem.3gpp.imei                                 : 356938035643809
            modem.3gpp.operator-code                        : 26201
            modem.3gpp.operator-name                        : Example
            modem.3gpp.registration-state                   : \(state)
            modem.3gpp.packet-service-state                 : attached
            modem.cdma.activation-state                     : --
            EOF
            """)
    }
}
