import Foundation

/// The drop-in that `bgsync schedule --systemd` writes for `bgsync@NAME.timer`:
/// `bgsync@NAME.timer.d/bgsync-schedule.conf`, resetting the template's `OnUnitActiveSec=`
/// and setting the job's interval (the counterpart of `enqueueUniquePeriodicWork(…, UPDATE)`).
public struct SystemdDropIn: Sendable, Equatable {
    /// The job name (the timer's instance, used verbatim: `%i` in the service is the job
    /// name, and job names hold only characters unit names allow).
    public var instance: String
    /// The interval in seconds.
    public var interval: Int
    /// Delay after boot before the first run.
    public var onBoot: Int

    public init(instance: String, interval: Int, onBoot: Int = 300) {
        self.instance = instance
        self.interval = interval
        self.onBoot = onBoot
    }

    /// `bgsync@NAME.timer`.
    public var timerUnit: String { "bgsync@\(instance).timer" }
    /// `bgsync@NAME.timer.d`.
    public var directoryName: String { timerUnit + ".d" }
    /// The drop-in's file name.
    public static let fileName = "bgsync-schedule.conf"
    /// Its path under a unit directory.
    public func path(in unitDirectory: String) -> String {
        unitDirectory + "/" + directoryName + "/" + Self.fileName
    }

    /// The file's text.
    public var text: String {
        """
        # Written by `bgsync schedule \(instance) --every \(DurationText.format(Double(interval)))`; removed by
        # `bgsync unschedule \(instance)`. Edits are overwritten by the next `bgsync schedule`.
        [Timer]
        OnBootSec=
        OnBootSec=\(DurationText.format(Double(onBoot)))
        OnUnitActiveSec=
        OnUnitActiveSec=\(DurationText.format(Double(interval)))

        """
    }
}

/// What writing a file did.
public enum InstallChange: String, Sendable, Equatable {
    case created, updated, unchanged, removed, absent
}

/// Writes `text` to `path` unless it already holds exactly that (then nothing is touched).
public enum FileInstaller {
    public static func install(_ text: String, at path: String, dryRun: Bool) throws -> InstallChange {
        let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
        if existing == text { return .unchanged }
        let change: InstallChange = existing == nil ? .created : .updated
        if dryRun { return change }
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let temporary = path + ".tmp-\(getpid())"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: temporary)
            guard rename(temporary, path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? FileManager.default.removeItem(atPath: temporary)
                throw InstallerError(SysExit.ioError, "\(path): cannot write it (\(reason))")
            }
        } catch let error as InstallerError {
            throw error
        } catch {
            throw InstallerError(SysExit.ioError, "\(path): cannot write it (\(error.localizedDescription))")
        }
        return change
    }

    /// Removes `path` (and its directory when that becomes empty).
    public static func remove(at path: String, dryRun: Bool) throws -> InstallChange {
        guard FileManager.default.fileExists(atPath: path) else { return .absent }
        if dryRun { return .removed }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw InstallerError(SysExit.ioError, "\(path): cannot remove it (\(error.localizedDescription))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if let rest = try? FileManager.default.contentsOfDirectory(atPath: directory), rest.isEmpty {
            try? FileManager.default.removeItem(atPath: directory)
        }
        return .removed
    }
}

/// A problem installing a schedule, with the sysexits code to exit with.
public struct InstallerError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public init(_ code: Int32, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }
}
