import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks on files named by the user, with messages that say what is wrong: a missing file
/// (naming a missing directory on its path) or a directory where a file was expected
/// (``JobError/Kind/missingFile``, exit 66), or a permission problem (``JobError/Kind/permission``,
/// exit 77).
package enum InputFile {
    /// Checks that `path` names a regular file this process can read; `what` names it in the
    /// message ("job file", "database file").
    /// - Throws: ``JobError`` (`missingFile` or `permission`).
    package static func checkReadable(_ path: String, what: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw missingOrDenied(path, errno: errno, what: what)
        }
        if info.st_mode & S_IFMT == S_IFDIR {
            throw JobError(.missingFile, "\(path) is a directory, not a \(what); give the file's path")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw JobError(.missingFile, "\(path) is not a regular file; expected a \(what)")
        }
        guard access(path, R_OK) == 0 else {
            throw JobError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot read the \(what); check its mode and owner (ls -l \(path))")
        }
    }

    /// Checks, for a file that bgsync may create and write, that it is not a directory and that
    /// this user can write it, or, when it does not exist, that the directory it goes in exists
    /// and can take a new file.
    /// - Throws: ``JobError`` (`missingFile` naming the missing directory, or `permission`).
    package static func checkCreatable(_ path: String, what: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR {
                throw JobError(.missingFile, "\(path) is a directory, not a \(what); give the file's path")
            }
            // A read-only file system (EROFS) is the store's to report (74), not a permission.
            guard access(path, R_OK | W_OK) == 0 || errno != EACCES else {
                throw JobError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot read and write the \(what); check its mode and owner (ls -l \(path))")
            }
            return
        }
        let failure = errno
        guard failure == ENOENT else { throw missingOrDenied(path, errno: failure, what: what) }
        let directory = parent(of: path)
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            throw JobError(.missingFile, "\(path): the directory \(directory) does not exist; create it first (bgsync creates the \(what), never its directory)")
        }
        if !isDirectory.boolValue {
            throw JobError(.missingFile, "\(path): \(directory) is not a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 || errno != EACCES else {
            throw JobError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot create files in \(directory); check its mode and owner (ls -ld \(directory))")
        }
    }

    /// The message for a `stat` that failed with `errno`.
    static func missingOrDenied(_ path: String, errno code: Int32, what: String) -> JobError {
        switch code {
        case EACCES:
            return JobError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot reach the \(what) (a directory on its path is not searchable); check the directories' modes")
        case ENOTDIR:
            return JobError(.missingFile, "\(path): a component of the path is not a directory")
        default:
            let directory = parent(of: path)
            var isDirectory: ObjCBool = false
            if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
                return JobError(.missingFile, "\(path): no such \(what) (the directory \(directory) does not exist)")
            }
            return JobError(.missingFile, "\(path): no such \(what)")
        }
    }

    /// The directory `path` is in (`.` for a bare name).
    static func parent(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }
}
