import Foundation
FileHandle.standardError.write("kinevoxd: not wired yet\n".data(using: .utf8)!)
exit(1)
