import Foundation
import Testing
@testable import BGSyncJobs

// MARK: - Storage and the whole evaluation

extension ConstraintTests {
    static func storage(percent: Double, bytes: Int64) -> JobConstraints {
        var constraints = JobConstraints()
        constraints.storageNotLow = true
        constraints.minFreeStoragePercent = percent
        constraints.minFreeStorageBytes = bytes
        return constraints
    }

    @Test func storageThresholds() throws {
        try ConstraintSandbox.with { box in
            let database = box.directory + "/notes.sqlite"
            let state = box.probe().storage(at: database)
            #expect(state.path == box.directory)
            #expect(state.totalBytes > 0 && state.freeBytes >= 0 && state.freeBytes <= state.totalBytes)

            let free = try #require(Self.storage(percent: 0, bytes: 0).evaluate(probe: box.probe(), databasePath: database).first)
            #expect(free.constraint == "storage_not_low")
            #expect(free.satisfied)
            #expect(free.measured.contains(" free ("))
            #expect(free.threshold == "0 % and 0 B free")

            let huge = try #require(Self.storage(percent: 0, bytes: Int64.max).evaluate(probe: box.probe(), databasePath: database).first)
            #expect(!huge.satisfied)
            let allOfIt = try #require(Self.storage(percent: 100.1, bytes: 0).evaluate(probe: box.probe(), databasePath: database).first)
            #expect(!allOfIt.satisfied)
            #expect(allOfIt.threshold == "100.1 % and 0 B free")
        }
    }

    @Test func storageOfADatabaseThatDoesNotExistYet() throws {
        try ConstraintSandbox.with { box in
            let database = box.directory + "/not/yet/created/db.sqlite"
            #expect(box.probe().storage(at: database).path == box.directory)
            // An existing file, a directory, and a path through a file.
            try box.write("db.sqlite", "")
            #expect(box.probe().storage(at: box.root + "/db.sqlite").path == box.root)
            #expect(box.probe().storage(at: box.root).path == box.root)
            #expect(box.probe().storage(at: box.root + "/db.sqlite/x").path == box.root)
            // Storage is measured on the real path, never through the probe's root.
            #expect(SystemProbe(root: "/nonexistent", path: nil).storage(at: database).path == box.directory)
        }
    }

    @Test func storageVerdictTexts() {
        var constraints = JobConstraints()
        constraints.storageNotLow = true
        let low = constraints.storageVerdict(StorageState(freeBytes: 1_200_000_000, totalBytes: 40_000_000_000, path: "/var"))
        #expect(!low.satisfied)
        #expect(low.measured == "1.2 GB free (3 %)")
        #expect(low.threshold == "10 % and 500 MB free")
        #expect(low.reason == "storage_not_low: 1.2 GB free (3 %), needs 10 % and 500 MB free")
        // Just under the percent mark never prints as the mark.
        let under = constraints.storageVerdict(StorageState(freeBytes: 9_940_000_000, totalBytes: 100_000_000_000, path: "/"))
        #expect(!under.satisfied)
        #expect(under.measured == "9.9 GB free (9.9 %)")
        // Plenty of percent but too few bytes (a small filesystem).
        let small = constraints.storageVerdict(StorageState(freeBytes: 400_000_000, totalBytes: 1_000_000_000, path: "/boot"))
        #expect(!small.satisfied)
        #expect(constraints.storageVerdict(StorageState(freeBytes: 600_000_000, totalBytes: 1_000_000_000, path: "/")).satisfied)
        // An unreadable filesystem counts as low.
        let unknown = constraints.storageVerdict(StorageState(freeBytes: 0, totalBytes: 0, path: "/gone"))
        #expect(!unknown.satisfied)
        #expect(unknown.measured == "free space unknown (/gone)")
    }

    @Test func nothingSetMeansNoVerdicts() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 1, status: "Discharging")
            #expect(JobConstraints().evaluate(probe: box.probe(), databasePath: box.directory + "/db.sqlite").isEmpty)
            #expect(JobConstraints() == JobConstraints())
            #expect(JobConstraints.Network(rawValue: "not-roaming") == .notRoaming)
            #expect(JobConstraints.Network.allCases.map(\.rawValue) == ["any", "connected", "unmetered", "not-roaming"])
        }
    }

    @Test func everythingSetInAFixedOrder() throws {
        try ConstraintSandbox.with { box in
            try box.laptop(acOnline: false, capacity: 5, status: "Discharging")
            try box.defaultRoute(via: "wlan0")
            try box.nmcli(interface: "wlan0", value: "yes")
            var constraints = JobConstraints()
            constraints.storageNotLow = true
            constraints.minFreeStoragePercent = 0
            constraints.minFreeStorageBytes = 0
            constraints.requiresCharging = true
            constraints.batteryNotLow = true
            constraints.network = .unmetered
            let verdicts = constraints.evaluate(probe: box.probe(), databasePath: box.directory + "/db.sqlite")
            #expect(verdicts.map(\.constraint) == ["network", "battery_not_low", "requires_charging", "storage_not_low"])
            #expect(verdicts.map(\.satisfied) == [false, false, false, true])
            #expect(verdicts.filter { !$0.satisfied }.map(\.reason) == [
                "network: metered (NetworkManager, wlan0), needs unmetered",
                "battery_not_low: 5 % (discharging), needs above 15 % or on AC",
                "requires_charging: discharging (5 %), needs charging (on AC)",
            ])
        }
    }

    @Test func percentFormatting() {
        #expect(JobConstraints.formatPercent(10) == "10")
        #expect(JobConstraints.formatPercent(3.04) == "3")
        #expect(JobConstraints.formatPercent(9.99) == "9.9")
        #expect(JobConstraints.formatPercent(12.5) == "12.5")
        #expect(JobConstraints.formatPercent(0) == "0")
    }
}
