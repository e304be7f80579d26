import BGSyncTestSupport
import BGSyncJobs
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Run lock")
struct StateRunLockTests {
    @Test("a held lock cannot be taken again, even by another descriptor in the same process")
    func exclusive() throws {
        try withTemporaryPath { tmp in
            let lock = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes"))
            #expect(lock.path == tmp + "/locks/notes.lock" && lock.isHeld)
            // flock belongs to the open file description: a second open() of the file is refused.
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") == nil)
            // Other tags are independent.
            let other = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "other"))
            other.release()
            lock.release()
            #expect(!lock.isHeld)
            lock.release()  // twice is harmless
            let again = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes"))
            #expect(again.isHeld)
            // The lock file stays (it is never deleted).
            again.release()
            #expect(FileManager.default.fileExists(atPath: tmp + "/locks/notes.lock"))
            let mode = try FileManager.default.attributesOfItem(atPath: tmp + "/locks")[.posixPermissions] as? Int
            #expect(mode.map { $0 & 0o077 } == 0)
        }
    }

    @Test("deinit releases")
    func deinitReleases() throws {
        try withTemporaryPath { tmp in
            do {
                let lock = try RunLock.acquire(stateDirectory: tmp, tag: "notes")
                #expect(lock != nil)
                #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") == nil)
            }
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") != nil)
        }
    }

    @Test("the holder's pid while held; none after release or when the writer died")
    func holderPID() throws {
        try withTemporaryPath { tmp in
            #expect(RunLock.holderPID(stateDirectory: tmp, tag: "notes") == nil)
            let lock = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes"))
            #expect(RunLock.holderPID(stateDirectory: tmp, tag: "notes") == getpid())
            lock.release()
            #expect(RunLock.holderPID(stateDirectory: tmp, tag: "notes") == nil)
            #expect(RunLock.holderPID(stateDirectory: tmp, tag: "../x") == nil)
            // A pid left behind by a killed holder is not reported.
            let dead = try StateTestProcess.deadPID()
            try "\(dead)\n".write(toFile: tmp + "/locks/notes.lock", atomically: false, encoding: .utf8)
            #expect(RunLock.holderPID(stateDirectory: tmp, tag: "notes") == nil)
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") != nil)
        }
    }

    @Test("invalid tags are refused before any file is made")
    func invalidTag() throws {
        try withTemporaryPath { tmp in
            for tag in ["", "../escape", "a/b", ".x"] {
                let error = #expect(throws: StateError.self) { _ = try RunLock.acquire(stateDirectory: tmp, tag: tag) }
                #expect(error?.kind == .invalidTag)
            }
            let listing = try FileManager.default.contentsOfDirectory(atPath: tmp)
            #expect(listing.isEmpty)
        }
    }

    @Test("a lock held by another process excludes; its death frees the lock",
          .enabled(if: StateTestProcess.which("flock") != nil && StateTestProcess.which("sh") != nil, "flock(1) or sh is missing"))
    func otherProcess() throws {
        let sh = try #require(StateTestProcess.which("sh"))
        try withTemporaryPath { tmp in
            // Create the file and the directory as a run would, then let a child hold the lock.
            try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes")).release()
            // One process holding the lock: the shell opens the file, flock(1) locks that open file
            // description, and the shell becomes `sleep`, keeping it.
            let script = #"exec 9>>"$1" && flock --exclusive 9 && exec sleep 30"#
            let child = try TestProcess(sh, ["-c", script, "sh", tmp + "/locks/notes.lock"], stdout: .discard, stderr: .discard)
            defer {
                if child.isRunning { kill(child.pid, SIGKILL) }
                _ = try? child.wait()
            }
            let held = try StateTestProcess.eventually {
                guard let lock = try RunLock.acquire(stateDirectory: tmp, tag: "notes") else { return true }
                lock.release()
                return false
            }
            #expect(held)
            kill(child.pid, SIGKILL)
            _ = try child.wait()
            let freed = try StateTestProcess.eventually { try RunLock.acquire(stateDirectory: tmp, tag: "notes") != nil }
            #expect(freed)
        }
    }

    @Test("programs started by the holder do not inherit the lock", .enabled(if: StateTestProcess.which("sleep") != nil, "no sleep"))
    func closeOnExec() throws {
        let sleep = try #require(StateTestProcess.which("sleep"))
        try withTemporaryPath { tmp in
            let lock = try #require(try RunLock.acquire(stateDirectory: tmp, tag: "notes"))
            // posix_spawn with no file actions: the child gets every descriptor not marked
            // close-on-exec (Foundation's Process would close them all, hiding a missing O_CLOEXEC).
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(sleep), strdup("30"), nil]
            defer { for arg in argv { free(arg) } }
            #expect(posix_spawn(&pid, sleep, nil, nil, argv, environ) == 0)
            defer {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                waitpid(pid, &status, 0)
            }
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            let open = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
            #expect(!fds.isEmpty, "cannot read /proc/\(pid)/fd")
            #expect(!open.contains { $0.hasSuffix("/locks/notes.lock") }, "the child holds \(open)")
            lock.release()
            #expect(try RunLock.acquire(stateDirectory: tmp, tag: "notes") != nil)
        }
    }
}
