import Foundation
import Testing

@Suite("Shell completions")
struct CompletionTests {
    @Test("completion scripts are generated for bash, zsh and fish and know every command", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let run = try DBCommandTests.bgsync(["--generate-completion-script", shell])
        #expect(run.status == 0)
        for command in ["run", "status", "cancel", "resume", "check", "factories", "schedule", "unschedule", "sync", "db"] {
            // As a word: "sync" inside "bgsync" or "unschedule" holding "schedule" do not count.
            let word = try NSRegularExpression(pattern: "(?<![A-Za-z0-9_-])\(command)(?![A-Za-z0-9_-])")
            let found = word.firstMatch(in: run.stdout, range: NSRange(run.stdout.startIndex..., in: run.stdout)) != nil
            #expect(found, "\(shell) completion lacks \(command)")
        }
    }
}
