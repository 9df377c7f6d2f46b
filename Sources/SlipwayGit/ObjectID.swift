internal import CLibGit2
import SlipwayCore

extension ObjectID {
    init(_ oid: git_oid) {
        self = withUnsafeBytes(of: oid.id) { ObjectID(bytes: $0.bindMemory(to: UInt8.self).baseAddress!) }  // a git_oid holds 20 bytes
    }

    var raw: git_oid {
        var oid = git_oid()
        git_oid_fromstr(&oid, hex)
        return oid
    }
}
