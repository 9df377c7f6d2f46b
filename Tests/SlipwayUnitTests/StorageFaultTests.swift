import Foundation
import Testing
@testable import SlipwayEngine

/// Which errors stop a run as a kill would (see `StorageFault`): a full, read-only or failing
/// state directory, however Foundation wraps it; nothing else.
@Suite("storage faults")
struct StorageFaultTests {
    @Test("ENOSPC, EDQUOT, EROFS and EIO, bare or under a Foundation file error, are storage faults, said in words")
    func recognised() throws {
        let full = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteOutOfSpace.rawValue, userInfo: [
            NSFilePathErrorKey: "/state/envs/web/instances.json",
            NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(ENOSPC)),
        ])
        let fault = try #require(StorageFault.from(full))
        #expect(fault.description == "/state/envs/web/instances.json: no space left on device", "\(fault)")
        #expect(!fault.description.contains("NSCocoaErrorDomain"))
        for code in [ENOSPC, EDQUOT, EROFS, EIO] {
            #expect(StorageFault.from(NSError(domain: NSPOSIXErrorDomain, code: Int(code))) != nil, "\(code)")
            let wrapped = NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileWriteUnknown.rawValue,
                                  userInfo: [NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(code))])
            #expect(StorageFault.from(wrapped) != nil, "\(code) under a Foundation error")
        }
        #expect(StorageFault.from(StoppedRun(fault: fault, afterwards: "")) != nil, "an upstream's run stopped inside staging")
    }

    @Test("a failed health check, a missing file and a refused permission are not storage faults")
    func others() {
        #expect(StorageFault.from(DeploymentFailure(reason: "instance web-1 never became healthy")) == nil)
        #expect(StorageFault.from(NSError(domain: NSCocoaErrorDomain, code: CocoaError.fileNoSuchFile.rawValue)) == nil)
        #expect(StorageFault.from(NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))) == nil)
    }
}
