import Foundation
import Testing
@testable import BGSyncJobs

@Suite("Constraints")
struct ConstraintTests {
    static func batteryNotLow(_ percent: Int = 15) -> JobConstraints {
        var constraints = JobConstraints()
        constraints.batteryNotLow = true
        constraints.minBatteryPercent = percent
        return constraints
    }

    static func requiresCharging() -> JobConstraints {
        var constraints = JobConstraints()
        constraints.requiresCharging = true
        return constraints
    }
}

// MARK: - Power

extension ConstraintTests {
    @Test func lowBatteryWhileDischargingFailsBatteryNotLow() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 5, status: "Discharging")
            let verdicts = Self.batteryNotLow().evaluate(probe: box.probe(), databasePath: box.directory + "/db.sqlite")
            #expect(verdicts.count == 1)
            let verdict = try #require(verdicts.first)
            #expect(verdict.constraint == "battery_not_low")
            #expect(!verdict.satisfied)
            #expect(verdict.measured == "5 % (discharging)")
            #expect(verdict.measured.hasPrefix("5 %"))
            #expect(verdict.threshold == "above 15 % or on AC")
            #expect(verdict.reason == "battery_not_low: 5 % (discharging), needs above 15 % or on AC")
        }
    }

    @Test func halfBatteryWhileDischargingIsNotLow() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 50, status: "Discharging")
            let power = box.probe().power()
            #expect(power == PowerState(onAC: false, batteryPercent: 50, charging: false, supplies: ["AC", "BAT0"]))
            let verdict = try #require(Self.batteryNotLow().evaluate(probe: box.probe(), databasePath: "/").first)
            #expect(verdict.satisfied)
            #expect(verdict.measured == "50 % (discharging)")
        }
    }

    @Test func theLowMarkItselfIsLow() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 20, status: "Discharging")
            #expect(Self.batteryNotLow(20).evaluate(probe: box.probe(), databasePath: "/").first?.satisfied == false)
            #expect(Self.batteryNotLow(19).evaluate(probe: box.probe(), databasePath: "/").first?.satisfied == true)
        }
    }

    @Test func lowBatteryOnACIsNotLow() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: true, capacity: 5, status: "Charging")
            let power = box.probe().power()
            #expect(power.onAC && power.charging && power.batteryPercent == 5)
            let verdict = try #require(Self.batteryNotLow().evaluate(probe: box.probe(), databasePath: "/").first)
            #expect(verdict.satisfied)
            #expect(verdict.measured == "5 % (charging)")
        }
    }

    @Test func noSuppliesMeansAC() throws {
        try ConstraintSandbox.with { box in
            // No sys/class/power_supply at all (a container), then an empty one (a server).
            for step in 0..<2 {
                if step == 1 {
                    try FileManager.default.createDirectory(atPath: box.root + "/sys/class/power_supply",
                                                            withIntermediateDirectories: true)
                }
                let power = box.probe().power()
                #expect(power == PowerState(onAC: true, batteryPercent: nil, charging: true, supplies: [], hasBattery: false))
                var constraints = Self.batteryNotLow()
                constraints.requiresCharging = true
                let verdicts = constraints.evaluate(probe: box.probe(), databasePath: "/")
                #expect(verdicts.map(\.constraint) == ["battery_not_low", "requires_charging"])
                #expect(verdicts.map(\.satisfied) == [true, true])
                #expect(verdicts.map(\.measured) == ["on AC, no battery", "on AC, no battery"])
            }
        }
    }

    @Test(arguments: [("Charging", true), ("Full", true), ("Not charging", true), ("Discharging", false), ("Unknown", false)])
    func requiresChargingOnAC(status: String, satisfied: Bool) throws {
        try ConstraintSandbox.with { box in
            // "Discharging" while the adapter is online happens with weak chargers: on AC, not charging.
            try box.laptop(acOnline: true, capacity: 60, status: status)
            let verdict = try #require(Self.requiresCharging().evaluate(probe: box.probe(), databasePath: "/").first)
            #expect(verdict.constraint == "requires_charging")
            #expect(verdict.satisfied == satisfied)
            #expect(verdict.measured == (satisfied ? "charging (60 %)" : "on AC, not charging (60 %)"))
            #expect(verdict.threshold == "charging (on AC)")
        }
    }

    @Test func requiresChargingFailsOnBattery() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 80, status: "Discharging")
            let verdict = try #require(Self.requiresCharging().evaluate(probe: box.probe(), databasePath: "/").first)
            #expect(!verdict.satisfied)
            #expect(verdict.measured == "discharging (80 %)")
            #expect(verdict.reason == "requires_charging: discharging (80 %), needs charging (on AC)")
        }
    }

    @Test func upsSupplies() throws {
        try ConstraintSandbox.with { box in
            // A desktop behind a UPS that is on mains: any online non-battery supply means AC.
            try box.supply("ups", ["type": "UPS", "online": "1", "capacity": "100", "status": "Full"])
            #expect(box.probe().power() == PowerState(onAC: true, batteryPercent: nil, charging: true, supplies: ["ups"]))
            // A laptop plugged into a UPS that lost mains: the laptop battery discharges.
            try box.supply("ups", ["type": "UPS", "online": "0"])
            try box.supply("BAT0", ["type": "Battery", "capacity": "40", "status": "Discharging"])
            let power = box.probe().power()
            #expect(!power.onAC && power.batteryPercent == 40 && !power.charging)
            #expect(power.supplies == ["BAT0", "ups"])
            #expect(Self.batteryNotLow(50).evaluate(probe: box.probe(), databasePath: "/").first?.satisfied == false)
        }
    }

    @Test func severalBatteriesAverage() throws {
        try ConstraintSandbox.with { box in
            try box.supply("AC", ["type": "Mains", "online": "0"])
            try box.supply("BAT0", ["type": "Battery", "capacity": "80", "status": "Discharging"])
            try box.supply("BAT1", ["type": "Battery", "capacity": "21", "status": "Discharging"])
            #expect(box.probe().power().batteryPercent == 51)  // 50.5 rounds up
        }
    }

    @Test func deviceAndAbsentBatteriesAreIgnored() throws {
        try ConstraintSandbox.with { box in
            // A wireless mouse's battery and an empty second bay: a desktop on AC.
            try box.supply("hidpp_battery_0", ["type": "Battery", "scope": "Device", "capacity": "3", "status": "Discharging"])
            try box.supply("BAT1", ["type": "Battery", "present": "0", "status": "Discharging"])
            let power = box.probe().power()
            #expect(power == PowerState(onAC: true, batteryPercent: nil, charging: true,
                                        supplies: ["BAT1", "hidpp_battery_0"], hasBattery: false))
        }
    }

    @Test func usbSupplyInSourceModeIsNotAC() throws {
        try ConstraintSandbox.with { box in
            try box.supply("BAT0", ["type": "Battery", "capacity": "70", "status": "Discharging"])
            try box.supply("ucsi-source-psy-USBC000:001", ["type": "USB", "online": "1"])
            try box.write("sys/class/power_supply/ucsi-source-psy-USBC000:001/device/typec/port0/power_role", "[source] sink\n")
            #expect(!box.probe().power().onAC)  // the laptop powers a phone
            try box.write("sys/class/power_supply/ucsi-source-psy-USBC000:001/device/typec/port0/power_role", "source [sink]\n")
            #expect(box.probe().power().onAC)   // a USB-C charger
        }
    }

    @Test func missingAttributes() throws {
        try ConstraintSandbox.with { box in
            // No status: systemd assumes discharging. No capacity: level unknown, not low.
            try box.supply("BAT0", ["type": "Battery"])
            try box.supply("weird", [:])  // no type: ignored
            let power = box.probe().power()
            #expect(power == PowerState(onAC: false, batteryPercent: nil, charging: false, supplies: ["BAT0", "weird"],
                                        hasBattery: true))
            let verdict = try #require(Self.batteryNotLow().evaluate(probe: box.probe(), databasePath: "/").first)
            #expect(verdict.satisfied)
            #expect(verdict.measured == "battery level unknown (discharging)")
            // Out-of-range and unparsable capacities are not levels.
            try box.supply("BAT0", ["type": "Battery", "capacity": "250", "status": "Discharging"])
            try box.supply("BAT1", ["type": "Battery", "capacity": "n/a", "status": "Discharging"])
            try box.supply("BAT2", ["type": "Battery", "capacity": "30", "status": "Discharging"])
            #expect(box.probe().power().batteryPercent == 30)
        }
    }

    @Test func rootWithTrailingSlashAndEnvironment() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 42, status: "Discharging")
            #expect(SystemProbe(root: box.root + "/", path: nil).power().batteryPercent == 42)
            let probe = SystemProbe(environment: ["BGSYNC_SYSTEM_ROOT": box.root, "PATH": "/nowhere"])
            #expect(probe.root == box.root && probe.path == "/nowhere")
            #expect(probe.power().batteryPercent == 42)
            let production = SystemProbe(environment: [:])
            #expect(production.root == "/" && production.path == nil)
        }
    }
}
