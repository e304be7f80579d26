import Foundation
import Testing

@Suite("Shell completions")
struct CompletionTests {
    @Test("completion scripts are generated for bash, zsh and fish and know every command", arguments: ["bash", "zsh", "fish"])
    func completions(shell: String) throws {
        let run = try DBCommandTests.bgsync(["--generate-completion-script", shell])
        #expect(run.status == 0)
        for command in ["run", "status", "cancel", "resume", "check", "factories", "schedule", "unschedule", "sync", "db"] {
            #expect(run.stdout.contains(command), "\(shell) completion lacks \(command)")
        }
    }
}
