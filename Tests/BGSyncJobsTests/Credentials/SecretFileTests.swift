@testable import BGSyncJobs
import Foundation
import Testing

@Suite("Secret files")
struct SecretFileTests {
    private func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    @Test("a 0600 file is read without its trailing newline")
    func regular() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/password"
        FileManager.default.createFile(atPath: file, contents: Data("s3cret\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try FilePermissions.readSecret(file, what: "password file") == "s3cret")
    }

    @Test("a FIFO or an oversized file is refused before anything is read", arguments: ["fifo", "large"])
    func notASmallRegularFile(kind: String) throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/secret"
        if kind == "fifo" {
            #expect(mkfifo(file, 0o600) == 0)
        } else {
            FileManager.default.createFile(atPath: file, contents: Data(count: FilePermissions.maxSecretBytes + 1), attributes: [.posixPermissions: 0o600])
        }
        // Reading a FIFO with no writer would block forever: the refusal must come first.
        #expect {
            _ = try FilePermissions.readSecret(file, what: "password file")
        } throws: { error in
            "\(error)".contains("must be a regular file of at most 64 KiB") && "\(error)".contains(file)
        }
    }
}
