import Foundation
import Testing
@testable import BGSyncJobs

// MARK: - Network

extension ConstraintTests {
    static func network(_ network: JobConstraints.Network, unknown: JobConstraints.MeteredUnknown = .unmetered) -> JobConstraints {
        var constraints = JobConstraints()
        constraints.network = network
        constraints.meteredUnknown = unknown
        return constraints
    }

    static func verdict(_ constraints: JobConstraints, _ probe: SystemProbe) throws -> ConstraintVerdict {
        let verdicts = constraints.evaluate(probe: probe, databasePath: "/")
        #expect(verdicts.count == 1)
        return try #require(verdicts.first)
    }

    static let ipv6LoopbackReject =
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo"
    static let ipv6Default =
        "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000022436fffe7f0bd0 00000400 00000001 00000000 00450003     eth0"
    static let ipv6Link =
        "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0"

    @Test func defaultRouteIPv4() throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "enp3s0")
            #expect(box.probe(path: nil).network() == NetworkState(hasDefaultRoute: true, interface: "enp3s0", metered: nil, roaming: nil))
            let verdict = try Self.verdict(Self.network(.connected), box.probe())
            #expect(verdict.constraint == "network" && verdict.satisfied)
            #expect(verdict.measured == "default route via enp3s0")
            #expect(verdict.threshold == "a default route")
        }
    }

    @Test func noDefaultRoute() throws {
        try ConstraintSandbox.with { box in
            // Only a local network route, and a default route that is down or a reject route.
            try box.ipv4Routes([
                ["eth0", "0001A8C0", "00000000", "0001", "0", "0", "0", "00FFFFFF", "0", "0", "0"],
                ["eth1", "00000000", "0101A8C0", "0002", "0", "0", "0", "00000000", "0", "0", "0"],
                ["eth2", "00000000", "00000000", "0201", "0", "0", "0", "00000000", "0", "0", "0"],
            ])
            try box.ipv6Routes([Self.ipv6Link, Self.ipv6LoopbackReject])
            #expect(box.probe().network() == NetworkState(hasDefaultRoute: false, interface: nil, metered: nil, roaming: nil))
            for network in [JobConstraints.Network.connected, .unmetered, .notRoaming] {
                let verdict = try Self.verdict(Self.network(network), box.probe())
                #expect(!verdict.satisfied)
                #expect(verdict.measured == "no default route")
            }
            #expect(Self.network(.connected).evaluate(probe: box.probe(), databasePath: "/").first?.reason
                    == "network: no default route, needs a default route")
        }
    }

    @Test func noRouteFilesAtAll() throws {
        try ConstraintSandbox.with { box in
            #expect(!box.probe().network().hasDefaultRoute)
            #expect(Self.network(.any).evaluate(probe: box.probe(), databasePath: "/").isEmpty)
        }
    }

    @Test func defaultRouteIPv6Only() throws {
        try ConstraintSandbox.with { box in
            try box.ipv4Routes([])
            try box.ipv6Routes([Self.ipv6Link, Self.ipv6Default, Self.ipv6LoopbackReject])
            #expect(box.probe().network().interface == "eth0")
            #expect(try Self.verdict(Self.network(.connected), box.probe()).satisfied)
            // The loopback's unreachable default alone is no route.
            try box.ipv6Routes([Self.ipv6LoopbackReject])
            #expect(!box.probe().network().hasDefaultRoute)
        }
    }

    @Test func lowestMetricWins() throws {
        try ConstraintSandbox.with { box in
            try box.ipv4Routes([
                ["wlan0", "00000000", "0101A8C0", "0003", "0", "0", "600", "00000000", "0", "0", "0"],
                ["eth0", "00000000", "0102A8C0", "0003", "0", "0", "100", "00000000", "0", "0", "0"],
            ])
            #expect(box.probe().network().interface == "eth0")
        }
    }

    @Test(arguments: [("yes", false), ("yes (guessed)", false), ("no", true), ("no (guessed)", true)])
    func meteredFromNetworkManager(value: String, satisfied: Bool) throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "wlan0")
            try box.nmcli(interface: "wlan0", value: value)
            #expect(box.probe().network().metered == !satisfied)
            let verdict = try Self.verdict(Self.network(.unmetered), box.probe())
            #expect(verdict.satisfied == satisfied)
            #expect(verdict.measured == (satisfied ? "unmetered (NetworkManager, wlan0)" : "metered (NetworkManager, wlan0)"))
            #expect(verdict.threshold == "unmetered")
        }
    }

    @Test func meteredUnknown() throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "wlan0")
            // No nmcli on PATH, no PATH at all, nmcli saying "unknown", nmcli failing as when
            // NetworkManager is not running, and nmcli not knowing the device.
            var probes: [SystemProbe] = [box.probe(), box.probe(path: nil)]
            let unknown = try box.nested("unknown")
            try unknown.nmcli(interface: "wlan0", value: "unknown")
            let failing = try box.nested("failing")
            try failing.script("nmcli", "echo 'Error: NetworkManager is not running.' >&2; exit 8")
            let other = try box.nested("other")
            try other.nmcli(interface: "eth9", value: "no")
            for programs in [unknown, failing, other] {
                probes.append(SystemProbe(root: box.root, path: programs.path))
            }
            for probe in probes {
                #expect(probe.network().metered == nil)
            }
            try box.nmcli(interface: "wlan0", value: "unknown")
            let satisfied = try Self.verdict(Self.network(.unmetered), box.probe())
            #expect(satisfied.satisfied)
            #expect(satisfied.measured == "metered state unknown (wlan0), counts as unmetered")
            let unsatisfied = try Self.verdict(Self.network(.unmetered, unknown: .metered), box.probe(path: nil))
            #expect(!unsatisfied.satisfied)
            #expect(unsatisfied.measured == "metered state unknown (wlan0), counts as metered")
        }
    }

    @Test func hangingNmcliIsTimedOutWithItsChildren() throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "wlan0")
            // The script starts a child that would keep stdout open after the script dies.
            try box.script("nmcli", """
                sleep 30 &
                echo $! > '\(box.directory)/child.pid'
                wait
                echo 'GENERAL.METERED:yes'
                """)
            let start = ContinuousClock.now
            #expect(box.probe(timeout: 0.3).network().metered == nil)
            #expect(ContinuousClock.now - start < .seconds(2))
            // The whole process group was killed: the `sleep` is gone (or a zombie).
            let pid = try String(contentsOfFile: box.directory + "/child.pid", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            var gone = false
            for _ in 0..<200 where !gone {
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
                gone = stat == nil || stat!.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") == true
                if !gone { usleep(10_000) }
            }
            #expect(gone)
            // The verdict counts the timeout as unknown.
            var constraints = Self.network(.unmetered, unknown: .metered)
            constraints.meteredUnknown = .metered
            let verdicts = constraints.evaluate(probe: box.probe(timeout: 0.2), databasePath: "/")
            #expect(verdicts.first?.satisfied == false)
        }
    }

    @Test func roamingFromModemManager() throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "wwan0")
            try box.mmcli(port: "wwan0", state: "roaming")
            #expect(box.probe().network().roaming == true)
            let roaming = try Self.verdict(Self.network(.notRoaming), box.probe())
            #expect(!roaming.satisfied)
            #expect(roaming.measured == "roaming (ModemManager, wwan0)")
            #expect(roaming.reason == "network: roaming (ModemManager, wwan0), needs not roaming")

            try box.mmcli(port: "wwan0", state: "home")
            let home = try Self.verdict(Self.network(.notRoaming), box.probe())
            #expect(home.satisfied)
            #expect(home.measured == "not roaming (wwan0)")
        }
    }

    @Test func roamingOnlyCountsForTheModemsInterface() throws {
        try ConstraintSandbox.with { box in
            try box.mmcli(port: "usb0", state: "roaming")
            // The default route goes through Wi-Fi: the roaming modem does not matter.
            try box.defaultRoute(via: "wlan0")
            #expect(box.probe().network().roaming == false)
            #expect(try Self.verdict(Self.network(.notRoaming), box.probe()).satisfied)
            // A modem net port without a ww… name is recognised by mmcli's port list.
            try box.defaultRoute(via: "usb0")
            #expect(box.probe().network().roaming == true)
            // No mmcli: unknown, which counts as not roaming.
            let unknown = try Self.verdict(Self.network(.notRoaming), box.probe(path: nil))
            #expect(unknown.satisfied)
            #expect(unknown.measured == "roaming state unknown (usb0), counts as not roaming")
            // A registration state that is neither home nor roaming is unknown.
            try box.defaultRoute(via: "wwan0")
            try box.mmcli(port: "wwan0", state: "searching")
            #expect(box.probe().network().roaming == nil)
        }
    }

    @Test func onlyTheNeededProgramRuns() throws {
        try ConstraintSandbox.with { box in
            try box.defaultRoute(via: "wwan0")
            try box.script("nmcli", "touch '\(box.directory)/nmcli-ran'; echo GENERAL.METERED:yes")
            try box.script("mmcli", "touch '\(box.directory)/mmcli-ran'; exit 1")
            _ = Self.network(.connected).evaluate(probe: box.probe(), databasePath: "/")
            _ = Self.network(.notRoaming).evaluate(probe: box.probe(), databasePath: "/")
            #expect(!FileManager.default.fileExists(atPath: box.directory + "/nmcli-ran"))
            #expect(FileManager.default.fileExists(atPath: box.directory + "/mmcli-ran"))
        }
    }

    @Test func parsingProgramOutput() {
        #expect(SystemProbe.parseMetered("GENERAL.METERED:yes\n") == true)
        #expect(SystemProbe.parseMetered("GENERAL.METERED:                        no (guessed)\n") == false)
        #expect(SystemProbe.parseMetered("yes (guessed)\n") == true)  // as `nmcli -g` prints it
        #expect(SystemProbe.parseMetered("GENERAL.METERED:unknown\n") == nil)
        #expect(SystemProbe.parseMetered("") == nil)
        let modem = SystemProbe.parseModem("""
            modem.generic.primary-port   : cdc-wdm1
            modem.generic.ports.value[1] : cdc-wdm1 (qmi)
            modem.generic.ports.value[2] : wwan1 (net)
            modem.generic.sim            : --
            modem.3gpp.registration-state : roaming
            """)
        #expect(modem.registrationState == "roaming")
        #expect(modem.ports == ["cdc-wdm1", "cdc-wdm1", "wwan1"])
        #expect(SystemProbe.parseModem("error: couldn't find modem\n").registrationState == nil)
    }
}
