import BGSyncJobs
import Foundation
import Testing

/// The pure parts of `bgsync schedule`: the timer drop-in, cron expressions and the crontab block.
@Suite("Schedule installer")
struct InstallerTests {
    // MARK: systemd drop-in

    @Test("the drop-in resets OnUnitActiveSec= and OnBootSec= before setting them")
    func dropInText() {
        let dropIn = SystemdDropIn(instance: "notes", interval: 3600, onBoot: 300)
        #expect(dropIn.timerUnit == "bgsync@notes.timer")
        #expect(dropIn.path(in: "/etc/systemd/system") == "/etc/systemd/system/bgsync@notes.timer.d/bgsync-schedule.conf")
        let lines = dropIn.text.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == ["[Timer]", "OnBootSec=", "OnBootSec=5m", "OnUnitActiveSec=", "OnUnitActiveSec=1h"])
        #expect(SystemdDropIn(instance: "notes", interval: 5400).text.contains("OnUnitActiveSec=1h30m\n"))
    }

    @Test("installing the same text twice leaves the file alone; new text updates it; remove deletes it")
    func fileInstaller() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-installer-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/bgsync@a.timer.d/bgsync-schedule.conf"
        #expect(try FileInstaller.install("one\n", at: path, dryRun: true) == .created)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try FileInstaller.install("one\n", at: path, dryRun: false) == .created)
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
        #expect(try FileInstaller.install("one\n", at: path, dryRun: false) == .unchanged)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64 == inode)
        #expect(try FileInstaller.install("two\n", at: path, dryRun: false) == .updated)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two\n")
        #expect(try FileInstaller.remove(at: path, dryRun: true) == .removed)
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try FileInstaller.remove(at: path, dryRun: false) == .removed)
        #expect(!FileManager.default.fileExists(atPath: directory + "/bgsync@a.timer.d"))
        #expect(try FileInstaller.remove(at: path, dryRun: false) == .absent)
    }

    // MARK: cron expressions

    @Test("minutes dividing 60, hours dividing 24 and one day become cron expressions")
    func cronExpressions() throws {
        #expect(try CronSchedule.expression(every: 60, tag: "notes") == "* * * * *")
        #expect(try CronSchedule.expression(every: 15 * 60, tag: "notes") == "*/15 * * * *")
        #expect(try CronSchedule.expression(every: 30 * 60, tag: "notes") == "*/30 * * * *")
        let hourly = try CronSchedule.expression(every: 3600, tag: "notes")
        let minute = try #require(Int(hourly.split(separator: " ")[0]))
        #expect((0..<60).contains(minute))
        #expect(hourly == "\(minute) * * * *")
        #expect(try CronSchedule.expression(every: 6 * 3600, tag: "notes") == "\(minute) */6 * * *")
        let daily = try CronSchedule.expression(every: 86400, tag: "notes").split(separator: " ")
        #expect(daily[0] == "\(minute)" && Int(daily[1]).map { (0..<24).contains($0) } == true && daily[2...] == ["*", "*", "*"])
        // Stable: the same tag gives the same minute every time.
        #expect(try CronSchedule.expression(every: 3600, tag: "notes") == hourly)
    }

    @Test("intervals cron cannot express are refused with exit 64", arguments: [30, 7 * 60, 90 * 60, 5 * 3600, 2 * 86400, 36 * 3600])
    func cronRefuses(seconds: Int) {
        do {
            _ = try CronSchedule.expression(every: seconds, tag: "notes")
            Issue.record("\(seconds)s was accepted")
        } catch let error as InstallerError {
            #expect(error.kind == .unsupportedInterval)
            #expect(SysExit.code(for: error) == SysExit.usage)
            #expect(error.message.contains("cron cannot"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    // MARK: crontab block

    @Test("the block: add, update in place, unchanged, remove; other lines untouched")
    func crontabBlock() {
        let original = "MAILTO=me@example.com\n0 3 * * * /usr/bin/backup\n"
        var block = CrontabBlock(original)
        let a = CrontabBlock.line(expression: "*/15 * * * *", command: "/usr/local/bin/bgsync run /j/a.toml --quiet", tag: "a")
        #expect(block.set(a, for: "a") == .created)
        #expect(block.text == original + CrontabBlock.begin + "\n" + a + "\n" + CrontabBlock.end + "\n")
        #expect(block.set(a, for: "a") == .unchanged)
        let b = CrontabBlock.line(expression: "*/5 * * * *", command: "/usr/local/bin/bgsync run /j/b.toml --quiet", tag: "b")
        #expect(block.set(b, for: "b") == .created)
        let a2 = CrontabBlock.line(expression: "*/30 * * * *", command: "/usr/local/bin/bgsync run /j/a.toml --quiet", tag: "a")
        #expect(block.set(a2, for: "a") == .updated)
        #expect(block.text == original + [CrontabBlock.begin, a2, b, CrontabBlock.end].joined(separator: "\n") + "\n")
        #expect(block.line(for: "a") == a2)
        #expect(block.line(for: "ab") == nil)
        #expect(block.remove("a") == .removed)
        #expect(block.remove("a") == .absent)
        #expect(block.text == original + [CrontabBlock.begin, b, CrontabBlock.end].joined(separator: "\n") + "\n")
        #expect(block.remove("b") == .removed)
        #expect(block.text == original)
    }

    @Test("a tag that is a prefix of another does not match it; an empty crontab works")
    func crontabPrefixTags() {
        var block = CrontabBlock("")
        block.set("* * * * * x # bgsync:notes-2", for: "notes-2")
        #expect(block.set("* * * * * y # bgsync:notes", for: "notes") == .created)
        #expect(block.line(for: "notes-2") == "* * * * * x # bgsync:notes-2")
        #expect(block.remove("notes") == .removed)
        #expect(block.text == [CrontabBlock.begin, "* * * * * x # bgsync:notes-2", CrontabBlock.end].joined(separator: "\n") + "\n")
    }
}
