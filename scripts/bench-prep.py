#!/usr/bin/env python3
"""Build the branch trees of the rfs benchmark (scripts/bench.sh) and the two
disk images that carry them into the VM.

    scripts/bench-prep.py PARAMS.sh STAGE EXT4.img XFS.img

Run as root: the trees are written through a loop mount of the new ext4
image (or, without one, staged and copied in by mkfs.ext4 -d, which is slow
for big directories; RFS_BENCH_NO_LOOP=1 forces that).

PARAMS.sh holds the sizes (shell assignments, written by scripts/bench.sh);
it is copied to the ext4 image as /params.sh for the in-VM driver. STAGE is a
scratch directory (emptied first, removed at the end). Whiteouts are written
in each filesystem's own format: `.wh.NAME` files for rfs, 0:0 character
devices for OverlayFS and fuse-overlayfs, `.unionfs-fuse/DIR/NAME_HIDDEN~`
for unionfs-fuse (so this needs CAP_MKNOD, i.e. root).

ext4 image (the guest mounts it on /b):
  params.sh
  w1/l1 l2 l3/dDDD/fNNNNNN  W1 hot path and W8 memory: TREE_FILES small files
                            spread over three lower branches (an empty rw
                            upper on top makes the 4-branch stack); the
                            directories exist in every branch (merged)
  w1/list, w1/list.native   the HOT_FILES files of W1: union paths, and the
                            same files' paths under w1/ (the native run)
  w2/l/0..N-1/usr/lib       W2 cold lookup: a pool of branches, each with
                            COLD_FILLER files in usr/lib; the targets of the
                            N-branch point (usr/lib/tN_JJJ) live only in l/N-1
  w2/list.N                 the COLD_FILES target names of point N
  w3/l1..l7/big             W3 readdir: RD_ENTRIES names spread over 8
  w3/up.wh|up.cd|up.uf/big  branches (the upper branch in three whiteout
                            formats); RD_WH_PCT % of the names live in a lower
                            branch and are whited out in the upper one
  w3/native/big             the names the union shows, in one plain directory
  w45/l/r_SIZE              W4/W5 lower files of random data
  w6/src.tar                W6: a synthetic source tree of TAR_FILES files
  w7/extra                  W7: the branch to append
  w9/l/pI/big, pI/s/fNNNN   W9 parallel copy-up: per worker I (up to the
                            largest of CU_PAR_COUNTS) one CU_PAR_SIZE file
                            and CU_PAR_SMALL small files
  w10/l/00..NN              W10/W11: a container image of IMG_LAYERS layers
                            (00 on top): python3, its libraries and its
                            standard library in different layers, a few
                            thousand filler files (IMG_FILLER) in
                            directories every layer touches, /app/main.py
  w10/flat                  the same image flattened (the native runs)
  w11/pkg.tar               W11: a package of PKG_FILES small files
xfs image, reflink=1 (the guest mounts it on /x):
  l/r_SIZE                  W5 on xfs: lower files for reflink copy-up
"""
import os
import random
import shutil
import subprocess
import sys
import tarfile
import io
import zlib


def sizes(s):
    """'4K 1M 1G' -> [(name, bytes)]"""
    out = []
    for w in s.split():
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[w[-1]]
        out.append((w, int(w[:-1]) * mult))
    return out


def read_params(path):
    p = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            k, v = line.split("=", 1)
            p[k] = v.strip("'\"")
    return p


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def random_file(path, size, seed):
    """`size` bytes of incompressible data (no zero blocks, so no holes)."""
    rng = random.Random(seed)
    chunk = rng.randbytes(1 << 20)
    left = size
    with open(path, "wb") as f:
        i = 0
        while left > 0:
            n = min(left, len(chunk))
            # Vary each MiB cheaply so no two blocks are equal.
            head = i.to_bytes(8, "little") * 8
            f.write(head + chunk[len(head):n] if n > len(head) else chunk[:n])
            left -= n
            i += 1


def build_w1(root, p):
    files, ndirs = int(p["TREE_FILES"]), int(p["TREE_DIRS"])
    hot = int(p["HOT_FILES"])
    w = os.path.join(root, "w1")
    for l in (1, 2, 3):
        for d in range(ndirs):
            os.makedirs(os.path.join(w, f"l{l}", f"d{d:03d}"))
    union, native = [], []
    pad = b"x" * 100
    for i in range(files):
        l = i % 3 + 1
        d = (i // 3) % ndirs
        rel = f"d{d:03d}/f{i:06d}"
        write_file(os.path.join(w, f"l{l}", rel), b"%d\n" % i + pad)
        if i < hot:
            union.append(rel)
            native.append(f"l{l}/{rel}")
    write_file(os.path.join(w, "list"), ("\n".join(union) + "\n").encode())
    write_file(os.path.join(w, "list.native"), ("\n".join(native) + "\n").encode())


def build_w2(root, p):
    points = [int(x) for x in p["COLD_BRANCHES"].split()]
    nfiles, filler = int(p["COLD_FILES"]), int(p["COLD_FILLER"])
    w = os.path.join(root, "w2")
    # Every branch has usr/lib (like image layers that all touch /usr/lib),
    # so the two directories are merged from all N branches on the way down.
    for b in range(max(points)):
        d = os.path.join(w, "l", str(b), "usr", "lib")
        os.makedirs(d)
        for j in range(filler):
            write_file(os.path.join(d, f"x{j:03d}"), b"filler\n")
    for n in points:
        names = [f"usr/lib/t{n}_{j:03d}" for j in range(nfiles)]
        for name in names:
            write_file(os.path.join(w, "l", str(n - 1), name), b"target\n")
        write_file(os.path.join(w, f"list.{n}"), ("\n".join(names) + "\n").encode())


def build_w3(root, p):
    n, nbr, pct = int(p["RD_ENTRIES"]), int(p["RD_BRANCHES"]), int(p["RD_WH_PCT"])
    w = os.path.join(root, "w3")
    lowers = [os.path.join(w, f"l{b}", "big") for b in range(1, nbr)]
    ups = {k: os.path.join(w, f"up.{k}", "big") for k in ("wh", "cd", "uf")}
    ufmeta = os.path.join(w, "up.uf", ".unionfs-fuse", "big")
    native = os.path.join(w, "native", "big")
    for d in lowers + list(ups.values()) + [ufmeta, native]:
        os.makedirs(d)
    period = 100 // pct if pct else 0
    visible = 0
    for i in range(n):
        name = f"e{i:06d}"
        if period and i % period == period // 2:
            # In a lower branch, whited out in the upper one.
            b = 1 + (i // period) % (nbr - 1)
            write_file(os.path.join(lowers[b - 1], name), b"")
            write_file(os.path.join(ups["wh"], ".wh." + name), b"")
            os.mknod(os.path.join(ups["cd"], name), 0o600 | 0o020000, os.makedev(0, 0))
            write_file(os.path.join(ufmeta, name + "_HIDDEN~"), b"")
            continue
        visible += 1
        write_file(os.path.join(native, name), b"")
        b = i % nbr
        if b == 0:
            for d in ups.values():
                write_file(os.path.join(d, name), b"")
        else:
            write_file(os.path.join(lowers[b - 1], name), b"")
    write_file(os.path.join(w, "expect"), b"%d\n" % visible)


def build_w45(root, p):
    d = os.path.join(root, "w45", "l")
    os.makedirs(d)
    seen = set()
    for name, size in sizes(p["SEQ_SIZE"]) + sizes(p["CU_SIZES"]):
        if name not in seen:
            seen.add(name)
            random_file(os.path.join(d, "r_" + name), size, zlib.crc32(name.encode()))


def build_w6(root, p):
    """A synthetic source tree: TAR_FILES text files, ~20 per directory,
    three levels deep, sizes log-normal around 8 KiB (like a kernel tree)."""
    nfiles = int(p["TAR_FILES"])
    rng = random.Random(6)
    words = [b"static", b"int", b"struct", b"return", b"if", b"else", b"for", b"void",
             b"unsigned", b"long", b"const", b"char", b"inode", b"dentry", b"lock", b"err"]
    d = os.path.join(root, "w6")
    os.makedirs(d)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        made = set()

        def add_dir(path):
            if path in made:
                return
            parent = os.path.dirname(path)
            if parent:
                add_dir(parent)
            ti = tarfile.TarInfo(path)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            tar.addfile(ti)
            made.add(path)

        for i in range(nfiles):
            dirn = f"src/m{i // 400:02d}/s{(i // 20) % 20:02d}"
            add_dir(dirn)
            size = min(int(rng.lognormvariate(9.0, 1.0)), 256 << 10)
            line = b" ".join(rng.choice(words) for _ in range(10)) + b";\n"
            data = (line * (size // len(line) + 1))[:size]
            ti = tarfile.TarInfo(f"{dirn}/f{i:05d}.c")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tar.addfile(ti, io.BytesIO(data))
    write_file(os.path.join(d, "src.tar"), buf.getvalue())


def build_w9(root, p):
    workers = max(int(x) for x in p["CU_PAR_COUNTS"].split())
    (_, size), = sizes(p["CU_PAR_SIZE"])
    small = int(p["CU_PAR_SMALL"])
    for i in range(workers):
        d = os.path.join(root, "w9", "l", f"p{i}")
        os.makedirs(os.path.join(d, "s"))
        random_file(os.path.join(d, "big"), size, 9000 + i)
        for k in range(small):
            write_file(os.path.join(d, "s", f"f{k:04d}"), b"small %d %d\n" % (i, k) * 20)


# The program W10 starts in the image, and what it imports.
W10_APP = b"""import json, email.parser, http.client, argparse, logging, decimal
print(json.dumps({"ok": True}))
"""


def w10_python():
    """(binary, [libraries], stdlib dir) of the host's python3, whose files
    make the W10 image: the guest runs the same binary in a chroot."""
    # Debian's interpreter (setup.sh installs it), not one a PATH may put first.
    exe = os.path.realpath("/usr/bin/python3")
    out = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    ver = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return exe, libs, f"/usr/lib/python{ver}"


def build_w10(root, p):
    """A container image of IMG_LAYERS layers, as an image builder makes
    them: the base (loader, libc) at the bottom, the other libraries, the
    interpreter and its standard library in layers above, the application
    on top, and in every layer some filler (docs, package lists, a config
    file, a library) in directories that every layer touches, so the
    lookups go down through merged directories."""
    nl, filler = int(p["IMG_LAYERS"]), int(p["IMG_FILLER"])
    w = os.path.join(root, "w10")
    flat = os.path.join(w, "flat")
    layers = [os.path.join(w, "l", f"{i:02d}") for i in range(nl)]
    for d in layers + [flat]:
        os.makedirs(d)

    def put(layer, rel, data=None, src=None, mode=0o644):
        for top in (layers[layer], flat):
            dst = os.path.join(top, rel.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            if src:
                shutil.copyfile(src, dst)
            else:
                write_file(dst, data)
            os.chmod(dst, mode)

    def link(layer, rel, target):
        for top in (layers[layer], flat):
            dst = os.path.join(top, rel.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(target, dst)

    exe, libs, stdlib = w10_python()
    base = nl - 1
    multi = "/usr/lib/x86_64-linux-gnu/"
    for k, lib in enumerate(libs):
        name = os.path.basename(lib)
        if name.startswith("ld-linux"):
            put(base, "/lib64/" + name, src=lib, mode=0o755)
        elif name.startswith(("libc.", "libm.")):
            put(base, multi + name, src=lib, mode=0o755)
        else:
            # Each other library in a layer of its own, as packages land.
            put(max(base - 3 - 3 * k, 1), multi + name, src=lib, mode=0o755)
    py = max(nl * 2 // 3, 1)
    put(py, "/usr/bin/" + os.path.basename(exe), src=exe, mode=0o755)
    link(py, "/usr/bin/python3", os.path.basename(exe))
    std = max(nl // 2, 1)
    skip = {"test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3",
            "site-packages", "dist-packages"}
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("config-"))
        for f in sorted(filenames):
            src = os.path.join(dirpath, f)
            if os.path.islink(src) or not os.path.isfile(src):
                continue
            put(std, stdlib + src[len(stdlib):], src=src)
    put(std + 1, "/usr/lib/python3/dist-packages/README.txt", b"site packages\n")
    put(0, "/app/main.py", W10_APP)
    rng = random.Random(10)
    for i in range(filler):
        layer = i % nl
        kind = i % 4
        if kind == 0:
            rel = f"/usr/share/doc/pkg{i // 4 % 200:03d}/f{i:05d}"
        elif kind == 1:
            rel = f"/var/lib/dpkg/info/pkg{i:05d}.list"
        elif kind == 2:
            rel = f"/usr/lib/x86_64-linux-gnu/libfill{i:05d}.so.1"
        else:
            rel = f"/etc/conf{i:05d}"
        put(layer, rel, b"filler %d\n" % i * rng.randint(1, 60))
    for d in layers + [flat]:
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        os.chmod(os.path.join(d, "tmp"), 0o1777)


def build_w11(root, p):
    """A package of PKG_FILES small files (a Python library: modules and
    their byte code, ~15 per directory), as a tar archive."""
    nfiles = int(p["PKG_FILES"])
    rng = random.Random(11)
    d = os.path.join(root, "w11")
    os.makedirs(d)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        made = set()
        for i in range(nfiles):
            sub = f"pkg/mod{i // 15:03d}"
            if i % 2:
                sub += "/__pycache__"
            for part in (sub.split("/")[:k] for k in range(1, sub.count("/") + 2)):
                path = "/".join(part)
                if path not in made:
                    ti = tarfile.TarInfo(path)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
                    tar.addfile(ti)
                    made.add(path)
            data = rng.randbytes(rng.randint(100, 4000))
            ti = tarfile.TarInfo(f"{sub}/f{i:05d}.{'pyc' if i % 2 else 'py'}")
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tar.addfile(ti, io.BytesIO(data))
    write_file(os.path.join(d, "pkg.tar"), buf.getvalue())


def build_xfs_stage(stage, p):
    d = os.path.join(stage, "l")
    os.makedirs(d)
    for name, size in sizes(p["CU_XFS_SIZES"]):
        random_file(os.path.join(d, "r_" + name), size, zlib.crc32(name.encode()))
    return d


def mkfs_ext4(p, img, root=None):
    subprocess.run(["truncate", "-s", p["EXT4_SIZE"], img], check=True)
    cmd = ["mkfs.ext4", "-q", "-F", "-L", "rfsbench", "-N", p["EXT4_INODES"],
           "-E", "lazy_itable_init=0,lazy_journal_init=0"]
    if root:
        cmd += ["-d", root]
    subprocess.run(cmd + [img], check=True)


def build_trees(root, params, p):
    shutil.copy(params, os.path.join(root, "params.sh"))
    for f in (build_w1, build_w2, build_w3, build_w45, build_w6, build_w9, build_w10, build_w11):
        print(f"rfs: bench-prep: {f.__name__[6:]}", file=sys.stderr, flush=True)
        f(root, p)
    os.makedirs(os.path.join(root, "w7", "extra"))
    write_file(os.path.join(root, "w7", "extra", "appended"), b"appended\n")


def check_xfs_ags(img):
    """An allocation group that a big file filled up leaves XFS without room
    for its per-AG metadata reservation (reflink needs one), and the guest's
    writes then fail with EIO: demand 16 MiB free in every AG."""
    def db(*cmds):
        args = ["xfs_db", "-r"]
        for c in cmds:
            args += ["-c", c]
        out = subprocess.run(args + [img], capture_output=True, text=True, check=True).stdout
        return [int(l.split("=")[1]) for l in out.splitlines() if "=" in l]
    agcount, bsize = db("sb 0", "p agcount", "p blocksize")
    for ag in range(agcount):
        (free,) = db(f"agf {ag}", "p freeblks")
        if free * bsize < 16 << 20:
            sys.exit(f"rfs: bench-prep: xfs allocation group {ag} has only {free * bsize >> 20} "
                     "MiB free: raise XFS_SIZE in scripts/bench.sh")


def main():
    params, stage, ext4, xfs = sys.argv[1:5]
    p = read_params(params)
    if os.path.exists(stage):
        shutil.rmtree(stage)
    os.makedirs(stage)
    for img in (ext4, xfs, ext4 + ".tmp", xfs + ".tmp"):
        if os.path.exists(img):
            os.unlink(img)

    # The trees go straight into the image through a loop mount where the
    # host allows it (root with loop devices): mkfs.ext4 -d adds directory
    # entries one linear scan at a time, which takes a quarter of an hour
    # for the full mode's 100 000-entry directories. Otherwise (or with
    # RFS_BENCH_NO_LOOP=1) the trees are staged and copied with mkfs -d.
    mnt = os.path.join(stage, "mnt")
    os.makedirs(mnt)
    mkfs_ext4(p, ext4 + ".tmp")
    looped = False
    if os.environ.get("RFS_BENCH_NO_LOOP") != "1":
        r = subprocess.run(["mount", "-o", "loop", ext4 + ".tmp", mnt], capture_output=True)
        looped = r.returncode == 0
        if not looped:
            print("rfs: bench-prep: no loop mount (" + r.stderr.decode().strip() +
                  "); using mkfs.ext4 -d (slow for big directories)", file=sys.stderr)
    if looped:
        try:
            build_trees(mnt, params, p)
        finally:
            subprocess.run(["umount", mnt], check=True)
    else:
        root = os.path.join(stage, "ext4")
        os.makedirs(root)
        build_trees(root, params, p)
        print("rfs: bench-prep: mkfs.ext4 -d", file=sys.stderr, flush=True)
        mkfs_ext4(p, ext4 + ".tmp", root)
        # Index the directories (htree), as a kernel-built tree would be.
        r = subprocess.run(["e2fsck", "-fyD", ext4 + ".tmp"], capture_output=True)
        if r.returncode not in (0, 1):
            sys.exit("rfs: bench-prep: e2fsck -fyD failed: " + r.stdout.decode()[-400:])

    print("rfs: bench-prep: mkfs.xfs (reflink=1)", file=sys.stderr, flush=True)
    xroot = os.path.join(stage, "xfs")
    os.makedirs(xroot)
    ldir = build_xfs_stage(xroot, p)
    proto = os.path.join(stage, "xfs.proto")
    with open(proto, "w") as f:
        f.write("/dev/null\n0 0\nd--755 0 0\nl d--755 0 0\n")
        for name in sorted(os.listdir(ldir)):
            f.write(f" {name} ---644 0 0 {os.path.join(ldir, name)}\n")
        f.write("$\n$\n")
    subprocess.run(["truncate", "-s", p["XFS_SIZE"], xfs + ".tmp"], check=True)
    subprocess.run(["mkfs.xfs", "-q", "-f", "-L", "rfsbench-x", "-m", "reflink=1",
                    "-p", proto, xfs + ".tmp"], check=True)
    check_xfs_ags(xfs + ".tmp")
    os.rename(ext4 + ".tmp", ext4)
    os.rename(xfs + ".tmp", xfs)
    shutil.rmtree(stage)


if __name__ == "__main__":
    main()
