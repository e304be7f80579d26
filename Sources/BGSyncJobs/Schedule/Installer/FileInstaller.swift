import Foundation

/// What writing a file did.
package enum InstallChange: String, Sendable, Equatable {
    case created, updated, unchanged, removed, absent
}

/// Writes `text` to `path` unless it already holds exactly that (then nothing is touched).
package enum FileInstaller {
    package static func install(_ text: String, at path: String, dryRun: Bool) throws -> InstallChange {
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
                throw InstallerError(.io, "\(path): cannot write it (\(reason))")
            }
        } catch let error as InstallerError {
            throw error
        } catch {
            throw InstallerError(.io, "\(path): cannot write it (\(error.localizedDescription))")
        }
        return change
    }

    /// Removes `path` (and its directory when that becomes empty).
    package static func remove(at path: String, dryRun: Bool) throws -> InstallChange {
        guard FileManager.default.fileExists(atPath: path) else { return .absent }
        if dryRun { return .removed }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw InstallerError(.io, "\(path): cannot remove it (\(error.localizedDescription))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        if let rest = try? FileManager.default.contentsOfDirectory(atPath: directory), rest.isEmpty {
            try? FileManager.default.removeItem(atPath: directory)
        }
        return .removed
    }
}
