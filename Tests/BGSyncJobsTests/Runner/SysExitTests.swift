import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import Testing

@Suite("SysExit")
struct SysExitTests {
    @Test("a database locked by another process past the busy timeout is a temporary failure (75), not an I/O error")
    func lockedIsTemporary() {
        #expect(SysExit.code(for: StateError(.busy, "state.sqlite: busy")) == SysExit.tempFail)
        #expect(SysExit.code(for: StoreError(.busy, "local.sqlite: locked")) == SysExit.tempFail)
        #expect(SysExit.code(for: ReplicationError(.localStoreBusy, "local.sqlite: locked")) == SysExit.tempFail)
        #expect(SysExit.code(for: StateError(.io, "state.sqlite: disk full")) == SysExit.ioError)
        #expect(SysExit.code(for: StoreError(.io, "local.sqlite: disk full")) == SysExit.ioError)
        #expect(SysExit.code(for: ReplicationError(.localStore, "local.sqlite: disk full")) == SysExit.ioError)
    }
}
