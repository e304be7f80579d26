import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The ssh/sudoers rules for files bgsync trusts: configuration that can make bgsync run
/// programs must not be writable by others; secrets must not be readable by others.
package enum FilePermissions {
    /// Refuses a job file or registry that group/others can write, or that belongs to someone
    /// other than the current user or root.
    package static func checkTrusted(_ path: String, what: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else { return }
        let mode = info.st_mode & 0o777
        if mode & 0o022 != 0 {
            throw JobError(.permission, "\(path): the \(what) is writable by group or others (mode \(String(mode, radix: 8))); it can make bgsync run programs, so bgsync refuses it: chmod go-w \(path)")
        }
        if info.st_uid != getuid() && info.st_uid != 0 {
            throw JobError(.permission, "\(path): the \(what) belongs to user id \(info.st_uid), not to you (\(getuid())) or root; bgsync refuses it: chown it")
        }
    }

    /// The largest secret file bgsync reads (passwords and tokens are far smaller).
    static let maxSecretBytes = 64 * 1024

    /// Refuses a secret file that group/others can read, or that is not a regular file of at
    /// most 64 KiB; returns its content without the trailing newline.
    package static func readSecret(_ path: String, what: String) throws -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw JobError(.configuration, "\(path): the \(what) does not exist or is not readable")
        }
        let mode = info.st_mode & 0o777
        if mode & 0o077 != 0 {
            throw JobError(.permission, "\(path): the \(what) is accessible by group or others (mode \(String(mode, radix: 8))); bgsync refuses to use it: chmod 600 \(path)")
        }
        // A secret is a small regular file: never read a device, a FIFO or a huge file whole.
        guard info.st_mode & S_IFMT == S_IFREG, info.st_size <= maxSecretBytes else {
            throw JobError(.configuration, "\(path): the \(what) must be a regular file of at most \(maxSecretBytes / 1024) KiB")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(.configuration, "\(path): the \(what) does not exist or is not readable")
        }
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        return text
    }
}
