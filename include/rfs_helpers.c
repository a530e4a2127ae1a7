// SPDX-License-Identifier: GPL-2.0
/*
 * rfs_helpers.c - one-line wrappers for static inline functions and macros
 * of the C VFS that Rust cannot call, declared in include/rfs_vfs.h.
 *
 * Logic does not belong here: each function only forwards to the VFS.
 */
#include <linux/security.h>
#include <linux/backing-file.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/uaccess.h>
#include <linux/fsnotify.h>
#include <linux/fsnotify_backend.h>
#include <linux/delay.h>
#include <linux/proc_fs.h>
#include <linux/workqueue.h>
#include <linux/sched/signal.h>
#include "rfs_vfs.h"

struct dentry *rfs_dget(struct dentry *dentry) { return dget(dentry); }
void rfs_path_get(const struct path *path) { path_get(path); }
const struct cred *rfs_get_cred(const struct cred *cred) { return get_cred(cred); }
void rfs_put_cred(const struct cred *cred) { put_cred(cred); }

void rfs_rcu_read_lock(void) { rcu_read_lock(); }
void rfs_rcu_read_unlock(void) { rcu_read_unlock(); }
struct inode *rfs_d_inode_rcu(const struct dentry *dentry) { return d_inode_rcu(dentry); }
struct dentry *rfs_d_parent_rcu(const struct dentry *dentry) { return READ_ONCE(dentry->d_parent); }

struct inode *rfs_d_inode(const struct dentry *dentry) { return d_inode(dentry); }

/* Unhashes @dentry if it is negative and only the caller holds it, so that
 * its dput frees it: a probe for a name that is not there leaves nothing in
 * the dcache. Anyone else who holds it keeps a valid (if uncached) dentry. */
void rfs_forget_negative(struct dentry *dentry)
{
	spin_lock(&dentry->d_lock);
	if (d_is_negative(dentry) && dentry->d_lockref.count == 1)
		__d_drop(dentry);
	spin_unlock(&dentry->d_lock);
}
bool rfs_d_is_dir(const struct dentry *dentry) { return d_is_dir(dentry); }
bool rfs_d_unhashed(const struct dentry *dentry) { return d_unhashed(dentry); }
u64 rfs_inode_query_iversion(struct inode *inode) { return inode_query_iversion(inode); }
bool rfs_inode_has_iversion(const struct inode *inode) { return IS_I_VERSION(inode); }
struct timespec64 rfs_inode_get_ctime(const struct inode *inode) { return inode_get_ctime(inode); }
struct timespec64 rfs_inode_get_mtime(const struct inode *inode) { return inode_get_mtime(inode); }
struct timespec64 rfs_inode_get_atime(const struct inode *inode) { return inode_get_atime(inode); }

void rfs_inode_set_times(struct inode *inode, struct timespec64 atime,
			 struct timespec64 mtime, struct timespec64 ctime)
{
	inode_set_atime_to_ts(inode, atime);
	inode_set_mtime_to_ts(inode, mtime);
	inode_set_ctime_to_ts(inode, ctime);
}

void rfs_i_uid_gid(struct inode *dst, const struct inode *src)
{
	dst->i_uid = src->i_uid;
	dst->i_gid = src->i_gid;
}

void rfs_set_nlink(struct inode *inode, unsigned int nlink) { set_nlink(inode, nlink); }
struct mnt_idmap *rfs_nop_mnt_idmap(void) { return &nop_mnt_idmap; }
long rfs_ptr_err(const void *ptr) { return PTR_ERR(ptr); }
bool rfs_is_err(const void *ptr) { return IS_ERR(ptr); }
void *rfs_err_ptr(long error) { return ERR_PTR(error); }
void *rfs_d_fsdata(const struct dentry *dentry) { return READ_ONCE(dentry->d_fsdata); }
void rfs_set_d_fsdata(struct dentry *dentry, void *data) { WRITE_ONCE(dentry->d_fsdata, data); }

/* The slab constructor: inode_init_once() on the embedded VFS inode. */
static size_t rfs_vfs_inode_offset;
static void rfs_inode_init_once(void *obj)
{
	inode_init_once((struct inode *)((char *)obj + rfs_vfs_inode_offset));
}

struct kmem_cache *rfs_inode_cache_create(size_t size, size_t vfs_inode_offset)
{
	rfs_vfs_inode_offset = vfs_inode_offset;
	return kmem_cache_create("rfs_inode", size, 0,
				 SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
				 rfs_inode_init_once);
}

struct inode *rfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache)
{
	void *obj = alloc_inode_sb(sb, cache, GFP_KERNEL);

	return obj ? (struct inode *)((char *)obj + rfs_vfs_inode_offset) : NULL;
}

void rfs_fc_error(struct fs_context *fc, const char *msg, const char *detail, int detail_len)
{
	/* "rfs: " in the kernel log and in the fs_context log alike. */
	if (detail)
		logfc(fc->log.log, "rfs", 'e', "%s: %.*s", msg, detail_len, detail);
	else
		logfc(fc->log.log, "rfs", 'e', "%s", msg);
}

int rfs_sysfs_emit_bytes(char *buf, int at, const char *bytes, int len)
{
	return sysfs_emit_at(buf, at, "%.*s\n", len, bytes);
}

void rfs_seq_puts_escaped(struct seq_file *m, const char *bytes, size_t len)
{
	seq_escape_mem(m, bytes, len, ESCAPE_OCTAL, ", \t\n\\");
}

static bool rfs_filldir(struct dir_context *ctx, const char *name, int namelen,
			loff_t offset, u64 ino, unsigned int d_type)
{
	struct rfs_dir_context *rctx = container_of(ctx, struct rfs_dir_context, ctx);

	return rfs_filldir_actor(rctx->owner, name, namelen, ino, d_type);
}

int rfs_iterate_dir(struct file *file, struct rfs_dir_context *rctx, loff_t pos)
{
	rctx->ctx.actor = rfs_filldir;
	rctx->ctx.pos = pos;
	return iterate_dir(file, &rctx->ctx);
}

bool rfs_dir_emit(struct dir_context *ctx, const char *name, int namelen, u64 ino,
		  unsigned int type)
{
	return dir_emit(ctx, name, namelen, ino, type);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
int rfs_call_mmap(struct file *file, struct vm_area_struct *vma) { return vfs_mmap(file, vma); }
/* Filesystems may have mmap_prepare in place of mmap. */
bool rfs_can_mmap(struct file *file) { return can_mmap_file(file); }
#else
int rfs_call_mmap(struct file *file, struct vm_area_struct *vma) { return call_mmap(file, vma); }
bool rfs_can_mmap(struct file *file) { return file->f_op->mmap; }
#endif
struct file *rfs_file_private(struct file *file) { return file->private_data; }
void rfs_set_file_private(struct file *file, void *data) { file->private_data = data; }

void rfs_sysfs_attr_init(struct attribute *attr) { sysfs_attr_init(attr); }
int rfs_param_type(const struct fs_parameter *param) { return param->type; }
bool rfs_dir_emit_dots(struct file *file, struct dir_context *ctx) { return dir_emit_dots(file, ctx); }
struct mnt_idmap *rfs_mnt_idmap(const struct vfsmount *mnt) { return mnt_idmap(mnt); }
dev_t rfs_inode_rdev(const struct inode *inode) { return inode->i_rdev; }

void rfs_inode_lock_parent(struct inode *inode) { inode_lock_nested(inode, I_MUTEX_PARENT); }
void rfs_inode_lock_child(struct inode *inode) { inode_lock_nested(inode, I_MUTEX_CHILD); }
void rfs_inode_unlock(struct inode *inode) { inode_unlock(inode); }
void rfs_inode_lock(struct inode *inode) { inode_lock(inode); }

void rfs_i_size_write(struct inode *inode, loff_t size) { i_size_write(inode, size); }

/*
 * The attributes a union inode mirrors from its top lower inode, including
 * the inode flags the VFS checks on the union inode itself (append-only,
 * immutable: may_open, notify_change, may_delete, xattr_permission; noatime,
 * sync), as overlayfs's ovl_copyflags does.
 */
#define RFS_COPY_I_FLAGS (S_SYNC | S_NOATIME | S_APPEND | S_IMMUTABLE)
void rfs_copy_inode_flags(struct inode *dst, const struct inode *src)
{
	inode_set_flags(dst, READ_ONCE(src->i_flags) & RFS_COPY_I_FLAGS, RFS_COPY_I_FLAGS);
}

/* Whether @dst already shows what rfs_copy_attr() copies from @src. Read
 * without locks: a change racing with the check is copied by the next
 * call, as it would be had the copy run just before the change. Most calls
 * (every permission check) find nothing changed, and then neither take
 * @dst's i_lock nor write it. */
static bool rfs_attr_current(const struct inode *dst, const struct inode *src)
{
	struct timespec64 da = inode_get_atime(dst), sa = inode_get_atime(src);
	struct timespec64 dm = inode_get_mtime(dst), sm = inode_get_mtime(src);
	struct timespec64 dc = inode_get_ctime(dst), sc = inode_get_ctime(src);

	return !((READ_ONCE(dst->i_flags) ^ READ_ONCE(src->i_flags)) & RFS_COPY_I_FLAGS) &&
	       !((READ_ONCE(dst->i_mode) ^ READ_ONCE(src->i_mode)) & ~S_IFMT) &&
	       uid_eq(READ_ONCE(dst->i_uid), READ_ONCE(src->i_uid)) &&
	       gid_eq(READ_ONCE(dst->i_gid), READ_ONCE(src->i_gid)) &&
	       READ_ONCE(dst->i_blocks) == READ_ONCE(src->i_blocks) &&
	       i_size_read(dst) == i_size_read(src) &&
	       timespec64_equal(&da, &sa) && timespec64_equal(&dm, &sm) &&
	       timespec64_equal(&dc, &sc);
}

void rfs_copy_attr(struct inode *dst, const struct inode *src)
{
	if (rfs_attr_current(dst, src))
		return;
	rfs_copy_inode_flags(dst, src);
	spin_lock(&dst->i_lock);
	dst->i_mode = (dst->i_mode & S_IFMT) | (src->i_mode & ~S_IFMT);
	dst->i_uid = src->i_uid;
	dst->i_gid = src->i_gid;
	dst->i_blocks = src->i_blocks;
	i_size_write(dst, i_size_read(src));
	inode_set_atime_to_ts(dst, inode_get_atime(src));
	inode_set_mtime_to_ts(dst, inode_get_mtime(src));
	inode_set_ctime_to_ts(dst, inode_get_ctime(src));
	spin_unlock(&dst->i_lock);
}

void rfs_clear_nlink(struct inode *inode) { clear_nlink(inode); }
umode_t rfs_inode_mode(const struct inode *inode) { return READ_ONCE(inode->i_mode); }
bool rfs_fatal_signal_pending(void) { return fatal_signal_pending(current); }
void rfs_cond_resched(void) { cond_resched(); }
void rfs_preempt_disable(void) { preempt_disable(); }
void rfs_preempt_enable(void) { preempt_enable(); }
const struct cred *rfs_current_cred(void) { return current_cred(); }
int rfs_finish_open_simple(struct file *file) { return finish_open_simple(file, 0); }

/* Fills the fields of @attr named by @what (ATTR_UID, ATTR_GID, ATTR_MODE,
 * ATTR_ATIME, ATTR_MTIME) from @src; times are set explicitly (*_SET). */
void rfs_iattr_from_inode(struct iattr *attr, const struct inode *src, unsigned int what)
{
	if (what & ATTR_UID)
		attr->ia_vfsuid = VFSUIDT_INIT(src->i_uid);
	if (what & ATTR_GID)
		attr->ia_vfsgid = VFSGIDT_INIT(src->i_gid);
	if (what & ATTR_MODE)
		attr->ia_mode = src->i_mode;
	if (what & ATTR_ATIME) {
		attr->ia_atime = inode_get_atime(src);
		what |= ATTR_ATIME_SET;
	}
	if (what & ATTR_MTIME) {
		attr->ia_mtime = inode_get_mtime(src);
		what |= ATTR_MTIME_SET;
	}
	attr->ia_valid |= what;
}

void rfs_do_delayed_call(struct delayed_call *call) { do_delayed_call(call); }

/* Copies @dentry's name (stable under d_lock) into @buf if it fits in @size
 * bytes; returns its length either way. */
int rfs_dentry_name_copy(struct dentry *dentry, char *buf, int size)
{
	int len;

	spin_lock(&dentry->d_lock);
	len = dentry->d_name.len;
	if (len <= size)
		memcpy(buf, dentry->d_name.name, len);
	spin_unlock(&dentry->d_lock);
	return len;
}

bool rfs_is_rfs_inode(const struct inode *inode, const struct super_operations *sop)
{
	return inode && inode->i_sb->s_op == sop;
}

/*
 * Credentials to create the union object @dentry (type and permissions
 * @mode) in a branch on behalf of @caller: a copy of the current (the
 * mounter's) credentials with @caller's fsuid and fsgid, which the LSM may
 * change so that the object gets the label @caller would give it
 * (security_dentry_create_files_as, as ovl_setup_cred_for_create). No hook
 * for a hard link (@dentry NULL): it creates no object. 0 and *@out, or a
 * negative errno.
 */
int rfs_creds_for_create(const struct cred *caller, struct dentry *dentry, umode_t mode,
			 const struct cred **out)
{
	struct cred *new = prepare_creds();
	int err;

	if (!new)
		return -ENOMEM;
	new->fsuid = caller->fsuid;
	new->fsgid = caller->fsgid;
	if (dentry) {
		err = security_dentry_create_files_as(dentry, mode, &dentry->d_name, caller, new);
		if (err) {
			put_cred(new);
			return err;
		}
	}
	*out = new;
	return 0;
}

/*
 * The credentials the LSM wants a copy-up of union object @dentry to run
 * with (security_inode_copy_up, as ovl_prep_cu_creds): *@out is a new
 * reference, or NULL when the mounter's serve. 0 or a negative errno.
 */
int rfs_copy_up_creds(struct dentry *dentry, const struct cred **out)
{
	struct cred *new = NULL;
	int err = security_inode_copy_up(dentry, &new);

	if (err < 0)
		return err;
	*out = new;
	return 0;
}

/*
 * Whether copy-up copies xattr @name of branch object @src: 0 or
 * -EOPNOTSUPP (no LSM has a say) to copy it, -ECANCELED to leave it out
 * (an LSM's own label, which it sets on the copy itself), another negative
 * errno to fail the copy-up (security_inode_copy_up_xattr, as
 * ovl_copy_xattr).
 */
int rfs_copy_up_xattr_allowed(struct dentry *src, const char *name)
{
	return security_inode_copy_up_xattr(src, name);
}

/* The RWF_* flags that carry a write's kiocb flags over to the branch file;
 * -EAGAIN for a non-blocking write (rfs may block in the branch). */
int rfs_kiocb_write_flags(const struct kiocb *iocb)
{
	int rwf = 0;

	if (iocb->ki_flags & IOCB_NOWAIT)
		return -EAGAIN;
	if (iocb->ki_flags & IOCB_APPEND)
		rwf |= RWF_APPEND;
	if (iocb->ki_flags & IOCB_DSYNC)
		rwf |= RWF_DSYNC;
	if (iocb->ki_flags & IOCB_SYNC)
		rwf |= RWF_SYNC;
	return rwf;
}

/*
 * Lock classes of union inodes by stacking depth: an rfs union may be a
 * branch of another rfs union, and the VFS then takes the i_rwsem of the
 * upper union's inode and of the lower union's inode one inside the other.
 * Giving each depth its own class tells lockdep this nesting is ordered
 * (OverlayFS does the same).
 */
void rfs_inode_set_lock_class(struct inode *inode)
{
#ifdef CONFIG_LOCKDEP
	static struct lock_class_key rfs_i_rwsem_key[FILESYSTEM_MAX_STACK_DEPTH + 1];
	static struct lock_class_key rfs_i_rwsem_dir_key[FILESYSTEM_MAX_STACK_DEPTH + 1];
	int depth = inode->i_sb->s_stack_depth;

	if (depth < 0 || depth > FILESYSTEM_MAX_STACK_DEPTH)
		depth = 0;
	if (S_ISDIR(inode->i_mode))
		lockdep_set_class(&inode->i_rwsem, &rfs_i_rwsem_dir_key[depth]);
	else
		lockdep_set_class(&inode->i_rwsem, &rfs_i_rwsem_key[depth]);
#endif
}

void rfs_posix_acl_release(struct posix_acl *acl) { posix_acl_release(acl); }

/* The union never caches ACLs: they live in the branches (->get_inode_acl
 * asks the top member each time), as OverlayFS does. */
void rfs_inode_dont_cache_acl(struct inode *inode)
{
	inode->i_acl = ACL_DONT_CACHE;
	inode->i_default_acl = ACL_DONT_CACHE;
}

/* The module's one static mutex, for module-wide state (src/vfs/global.rs):
 * a static needs no set-up at load and cannot outlive the module. */
static DEFINE_MUTEX(rfs_global_mutex);
void rfs_global_lock(void) { mutex_lock(&rfs_global_mutex); }
void rfs_global_unlock(void) { mutex_unlock(&rfs_global_mutex); }

/*
 * The copy-up lock of a union inode: bit @bit of @word, in rfs's per-inode
 * data. Killable, so a copy-up of a huge file never leaves other tasks in D
 * state for its whole duration. Returns 0 or -EINTR.
 */
int rfs_bit_lock_killable(unsigned long *word, int bit)
{
	return wait_on_bit_lock(word, bit, TASK_KILLABLE);
}

void rfs_bit_unlock(unsigned long *word, int bit)
{
	clear_and_wake_up_bit(bit, word);
}

/* The FS_*_FL flags of a branch object (vfs_fileattr_get). */
int rfs_fileattr_get_flags(struct dentry *dentry, unsigned int *flags)
{
	rfs_fileattr fa = { .flags_valid = true };
	int err = vfs_fileattr_get(dentry, &fa);

	if (!err)
		*flags = fa.flags;
	/* No fileattr_get at all: what the ioctl reports to user space. */
	return err == -ENOIOCTLCMD ? -ENOTTY : err;
}

/* Sets the FS_*_FL flags in @mask of a branch object to those of @flags. */
int rfs_fileattr_set_flags(struct mnt_idmap *idmap, struct dentry *dentry,
			   unsigned int flags, unsigned int mask)
{
	rfs_fileattr fa = { .flags_valid = true };
	unsigned int want;
	int err = vfs_fileattr_get(dentry, &fa);

	if (err)
		return err == -ENOIOCTLCMD ? -ENOTTY : err;
	want = (fa.flags & ~mask) | (flags & mask);
	if (want == fa.flags)
		return 0;
	fileattr_fill_flags(&fa, want);
	err = vfs_fileattr_set(idmap, dentry, &fa);
	return err == -ENOIOCTLCMD ? -ENOTTY : err;
}

/* ->flush of a branch file (close-time errors, e.g. of NFS or FUSE). */
int rfs_file_flush(struct file *file, fl_owner_t id)
{
	if (file->f_op->flush)
		return file->f_op->flush(file, id);
	return 0;
}

/* Whether the caller may see trusted.* xattrs (no audit record: a listing
 * is not a privileged operation). */
bool rfs_capable_sys_admin_noaudit(void)
{
	return ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN);
}

/* Whether the caller may run a maintenance ioctl (pseudo-link flush):
 * CAP_SYS_ADMIN in the initial user namespace, audited. */
bool rfs_capable_sys_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* copy_to_user / copy_from_user for the ioctls: 0 or -EFAULT. */
int rfs_copy_to_user(unsigned long dst, const void *src, size_t n)
{
	return copy_to_user((void __user *)dst, src, n) ? -EFAULT : 0;
}

int rfs_copy_from_user(void *dst, unsigned long src, size_t n)
{
	return copy_from_user(dst, (const void __user *)src, n) ? -EFAULT : 0;
}

u64 rfs_random_u64(void) { return get_random_u64(); }
/* Seconds since boot (the mfs policies' measurement interval). */
u64 rfs_boot_seconds(void) { return ktime_get_boottime_seconds(); }

bool rfs_mnt_is_idmapped(const struct vfsmount *mnt)
{
	return is_idmapped_mnt(mnt);
}

/*
 * Whether a branch given without a permission is read-only by nature, so
 * that it defaults to `rr` (AUFS: au_test_fs_rr, and a read-only mount):
 * its filesystem type never writes, or the filesystem or this mount of it
 * is read-only.
 */
bool rfs_mnt_natively_ro(struct vfsmount *mnt)
{
	static const char *const types[] = {
		"squashfs", "iso9660", "erofs", "cramfs", "romfs",
	};
	const char *name = mnt->mnt_sb->s_type->name;
	size_t i;

	if (sb_rdonly(mnt->mnt_sb) || __mnt_is_readonly(mnt))
		return true;
	for (i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(name, types[i]))
			return true;
	return false;
}

/* FS_IOC_FIEMAP of a union file: the branch inode that holds its data
 * answers (overlayfs: ovl_fiemap); the caller runs as the mounter. */
int rfs_fiemap_real(struct inode *real, struct fiemap_extent_info *fieinfo, u64 start, u64 len)
{
	if (!real->i_op->fiemap)
		return -EOPNOTSUPP;
	return real->i_op->fiemap(real, fieinfo, start, len);
}

/*
 * A branch dentry rfs cannot stack on: an automount point or transit, a
 * dentry with its own name hashing or comparison (case folding, vfat), or
 * an object that is neither a directory, a file nor a symlink (overlayfs:
 * ovl_dentry_weird).
 */
bool rfs_dentry_weird(struct dentry *dentry)
{
	if (!d_can_lookup(dentry) && !d_is_file(dentry) && !d_is_symlink(dentry))
		return true;
	return dentry->d_flags & (DCACHE_NEED_AUTOMOUNT | DCACHE_MANAGE_TRANSIT |
				  DCACHE_OP_HASH | DCACHE_OP_COMPARE);
}

/* A filesystem that can fold case (its root may lack the dentry ops). */
bool rfs_sb_has_encoding(struct super_block *sb)
{
	return sb_has_encoding(sb);
}

void rfs_seq_puts(struct seq_file *m, const char *bytes, size_t len)
{
	seq_write(m, bytes, len);
}

/* fileattr_get/fileattr_set of a union inode, passed to a branch object. */
int rfs_fileattr_get_real(struct dentry *real, rfs_fileattr *fa)
{
	int err = vfs_fileattr_get(real, fa);

	return err == -ENOIOCTLCMD ? -ENOTTY : err;
}

int rfs_fileattr_set_real(struct mnt_idmap *idmap, struct dentry *real, rfs_fileattr *fa)
{
	int err = vfs_fileattr_set(idmap, real, fa);

	return err == -ENOIOCTLCMD ? -ENOTTY : err;
}

/*
 * A delayed work item that calls @fn(@data) (the xino file's writer, in a
 * kernel worker: no caller's file size limit, no caller's signals).
 */
struct rfs_flusher {
	struct delayed_work dw;
	void (*fn)(void *);
	void *data;
};

static void rfs_flusher_run(struct work_struct *w)
{
	struct rfs_flusher *f = container_of(to_delayed_work(w), struct rfs_flusher, dw);

	f->fn(f->data);
}

struct rfs_flusher *rfs_flusher_new(void (*fn)(void *))
{
	struct rfs_flusher *f = kzalloc(sizeof(*f), GFP_KERNEL);

	if (!f)
		return NULL;
	INIT_DELAYED_WORK(&f->dw, rfs_flusher_run);
	f->fn = fn;
	return f;
}

/* Before the first rfs_flusher_arm. */
void rfs_flusher_set_data(struct rfs_flusher *f, void *data)
{
	f->data = data;
}

/* Runs the work in @secs seconds unless it is queued already; with 0, as
 * soon as possible (also when it was queued for later). */
void rfs_flusher_arm(struct rfs_flusher *f, unsigned int secs)
{
	if (secs)
		queue_delayed_work(system_unbound_wq, &f->dw, secs * HZ);
	else
		mod_delayed_work(system_unbound_wq, &f->dw, 0);
}

/* Runs the work now and waits for it (umount: the last records are written
 * by the worker, not by a task that may be being killed). */
void rfs_flusher_sync(struct rfs_flusher *f)
{
	mod_delayed_work(system_unbound_wq, &f->dw, 0);
	flush_delayed_work(&f->dw);
}

/* Waits for a run under way, cancels a queued one, frees @f. */
void rfs_flusher_free(struct rfs_flusher *f)
{
	if (!f)
		return;
	cancel_delayed_work_sync(&f->dw);
	kfree(f);
}

/*
 * Writes @len bytes at @pos of @file (the xino file) unless its filesystem
 * is frozen: -EAGAIN then, instead of sleeping until it is thawed (a lookup
 * logs new inode numbers, and must not hang on a frozen branch).
 */
ssize_t rfs_write_nofreeze(struct file *file, const void *buf, size_t len, loff_t pos)
{
	struct super_block *sb = file_inode(file)->i_sb;
	ssize_t ret;

	/* Past the calling task's file size limit: the write would send it
	 * SIGXFSZ (its lookup is no write of its own); a later record, logged
	 * by a task that may write there, takes this one along. */
	if (rlimit(RLIMIT_FSIZE) != RLIM_INFINITY && pos + len > rlimit(RLIMIT_FSIZE))
		return -EAGAIN;
	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!(file->f_mode & FMODE_CAN_WRITE) || !file->f_op->write_iter)
		return -EINVAL;
	if (!sb_start_write_trylock(sb))
		return -EAGAIN;
	/* What kernel_write does inside its freeze protection (__kernel_write
	 * is not exported to modules on newer kernels). */
	{
		struct kvec kv = { .iov_base = (void *)buf, .iov_len = len };
		struct iov_iter iter;
		struct kiocb kiocb;

		init_sync_kiocb(&kiocb, file);
		kiocb.ki_pos = pos;
		iov_iter_kvec(&iter, ITER_SOURCE, &kv, 1, len);
		ret = file->f_op->write_iter(&kiocb, &iter);
		if (ret > 0)
			fsnotify_modify(file);
		/* Cut short by a fatal signal (sync or a sysfs read by a task
		 * being killed): written again in full later, not a failure of
		 * the file. */
		if (ret >= 0 && ret < len && fatal_signal_pending(current))
			ret = -EINTR;
	}
	sb_end_write(sb);
	return ret;
}

/* ftruncate(2) of @file (open for writing) to @size, unless its filesystem
 * is frozen (-EAGAIN): as do_ftruncate, without waiting for a thaw. */
int rfs_truncate_nofreeze(struct file *file, loff_t size)
{
	struct dentry *dentry = file->f_path.dentry;
	struct inode *inode = file_inode(file);
	struct iattr attr = {
		.ia_valid = ATTR_SIZE | ATTR_FILE | ATTR_MTIME | ATTR_CTIME,
		.ia_size = size,
		.ia_file = file,
	};
	int ret;

	if (!(file->f_mode & FMODE_WRITE))
		return -EBADF;
	if (!sb_start_write_trylock(inode->i_sb))
		return -EAGAIN;
	/* No security_file_truncate: the file is rfs's own xino file, opened
	 * by the mounter, and the hook is not exported to modules by kernels
	 * built with CONFIG_SECURITY (Debian's); notify_change runs the
	 * inode's security hook. */
	inode_lock(inode);
	ret = notify_change(file_mnt_idmap(file), dentry, &attr, NULL);
	inode_unlock(inode);
	sb_end_write(inode->i_sb);
	return ret;
}

/*
 * Union regular files take O_DIRECT: the VFS allows it on a file whose
 * mapping has ->direct_IO (do_dentry_open, fcntl F_SETFL). The union
 * inode's mapping holds no pages (reads, writes and mmap go to the branch
 * file), so the op is never called; the branch file, opened with the same
 * O_DIRECT, does the direct I/O or refuses the open (overlayfs: ovl_aops).
 */
static const struct address_space_operations rfs_file_aops = {
	.direct_IO = noop_direct_IO,
};

void rfs_inode_allow_odirect(struct inode *inode)
{
	inode->i_mapping->a_ops = &rfs_file_aops;
}

/*
 * Before I/O through union file @file: make its branch file @real follow
 * the O_APPEND, O_NONBLOCK and O_DIRECT that fcntl(F_SETFL) set or cleared
 * on @file since the open (the branch file was opened with @file's flags
 * of then): a write through a branch file still opened O_APPEND would
 * append although the caller cleared it. -EINVAL if @real cannot do direct
 * I/O, -EPERM if its inode is append-only and O_APPEND would go (overlayfs:
 * ovl_change_flags with OVL_SETFL_MASK).
 */
#define RFS_SETFL_MASK (O_APPEND | O_NONBLOCK | O_NDELAY | O_DIRECT)
int rfs_file_sync_flags(struct file *file, struct file *real)
{
	unsigned int want = READ_ONCE(file->f_flags) & RFS_SETFL_MASK;
	unsigned int have = READ_ONCE(real->f_flags) & RFS_SETFL_MASK;

	if (have == want)
		return 0;
	if (((have ^ want) & O_APPEND) && IS_APPEND(file_inode(real)))
		return -EPERM;
	if ((want & O_DIRECT) && !(real->f_mode & FMODE_CAN_ODIRECT))
		return -EINVAL;
	if (real->f_op->check_flags) {
		int err = real->f_op->check_flags(want);

		if (err)
			return err;
	}
	spin_lock(&real->f_lock);
	real->f_flags = (real->f_flags & ~RFS_SETFL_MASK) | want;
	real->f_iocb_flags = iocb_flags(real);
	spin_unlock(&real->f_lock);
	return 0;
}

/* Whether the current credentials may read @len bytes at @pos of @file
 * (rw_verify_area: the LSM's file_permission, leases, locks); for the
 * source of a copy between two unions, checked as the source's mounter
 * (ovl_copyfile). */
int rfs_verify_read(struct file *file, loff_t pos, size_t len)
{
	return rw_verify_area(READ, file, &pos, len);
}

/*
 * The branch file of union file @user: a *backing file* (FMODE_BACKING)
 * opened on @real_path with @cred, whose user path is @user's, so that
 * /proc/PID/maps and the LSMs see the union path of a mapping (overlayfs:
 * ovl_open_realfile).
 */
struct file *rfs_backing_file_open(const struct file *user, int flags,
				   const struct path *real_path, const struct cred *cred)
{
	return backing_file_open(user, flags, real_path, cred);
}

/*
 * Whether @real, the branch file of union file @user, may be mapped into
 * @vma (security_mmap_backing_file, as backing_file_mmap; after the
 * security_mmap_file check of @user the VFS made). The hook is for backing
 * files only: others pass.
 */
int rfs_mmap_backing_check(struct vm_area_struct *vma, struct file *real, struct file *user)
{
	if (!(real->f_mode & FMODE_BACKING))
		return 0;
	return security_mmap_backing_file(vma, real, user);
}

/* The real dentry of @dentry, a branch dentry (d_real is inline): itself
 * unless its filesystem stacks too. */
struct dentry *rfs_d_real(struct dentry *dentry, enum d_real_type type)
{
	return d_real(dentry, type);
}

/* Whether a memory mapping maps @inode's pages. */
bool rfs_inode_mapped(struct inode *inode)
{
	return mapping_mapped(inode->i_mapping);
}

/* Whether setting an access ACL on @inode must clear its setgid bit first:
 * the branch's set_acl runs with the mounter's capabilities and would keep
 * it (overlayfs: ovl_set_or_remove_acl). */
bool rfs_acl_kills_sgid(struct inode *inode)
{
	return (inode->i_mode & S_ISGID) &&
	       !in_group_or_capable(&nop_mnt_idmap, inode, i_gid_into_vfsgid(&nop_mnt_idmap, inode));
}

/* syncfs(2) of a union: the writable branch's filesystem (ovl_sync_fs). */
int rfs_sync_branch_fs(struct super_block *sb)
{
	int ret;

	down_read(&sb->s_umount);
	ret = sync_filesystem(sb);
	up_read(&sb->s_umount);
	return ret;
}

/* Write access to a branch inode for a truncate (ETXTBSY while it runs). */
int rfs_get_write_access(struct inode *inode) { return get_write_access(inode); }
void rfs_put_write_access(struct inode *inode) { put_write_access(inode); }

/*
 * splice into the branch file @out: its filesystem's freeze protection
 * first, then the pipe (taken by ->splice_write), as a splice into that
 * filesystem does directly (overlayfs: backing_file_splice_write).
 */
ssize_t rfs_splice_write_real(struct pipe_inode_info *pipe, struct file *out,
			      loff_t *ppos, size_t len, unsigned int flags)
{
	ssize_t ret;

	if (!out->f_op->splice_write)
		return -EINVAL;
	file_start_write(out);
	ret = out->f_op->splice_write(pipe, out, ppos, len, flags);
	file_end_write(out);
	return ret;
}

/*
 * The union inode cache (issue 14 item 6): a non-directory union inode is
 * hashed by the branch inode that gives it its data (its key, kept in
 * i_private, as overlayfs keys its inodes on the real inode), so every name
 * of one file (hard links in a branch) is one union inode: flock, leases,
 * ETXTBSY and inotify are shared as on the branch.
 */
static int rfs_icache_test(struct inode *inode, void *key)
{
	return inode->i_private == key;
}

/*
 * Publishes the new, fully built union inode @inode under @key, or returns
 * the union inode already cached under @key (referenced; @inode is put).
 */
struct inode *rfs_inode_cache_insert(struct inode *inode, void *key)
{
	struct inode *old;

	inode->i_private = key;
	old = inode_insert5(inode, (unsigned long)key, rfs_icache_test, NULL, key);
	if (old == inode) {
		unlock_new_inode(inode);
		return inode;
	}
	if (!old)
		return inode;	/* not cached: used as it is */
	iput(inode);
	return old;
}

/* A copy-up gave the cached union inode @inode a new data source @key. */
void rfs_inode_cache_rekey(struct inode *inode, void *key)
{
	if (inode_unhashed(inode) || inode->i_private == key)
		return;
	remove_inode_hash(inode);
	inode->i_private = key;
	__insert_inode_hash(inode, (unsigned long)key);
}

/*
 * AUFS compatibility mode (off by default): the module also registers its
 * filesystem as "aufs", with AUFS's statfs magic and /sys/fs/aufs, so
 * programs that look for AUFS by name (Docker's aufs storage driver up to
 * 23, aufs-util's scripts) find rfs.
 */
static bool aufs_compat;
module_param(aufs_compat, bool, 0444);
MODULE_PARM_DESC(aufs_compat, "also register as \"aufs\" (statfs magic, /sys/fs/aufs) for AUFS users' tools");
MODULE_AUTHOR("rfs developers");
/* The sources' version (dkms.conf's PACKAGE_VERSION, rfsctl's). */
MODULE_VERSION("0.1.0");
/* `mount -t rfs` loads the module (the VFS asks for "fs-rfs"). */
MODULE_ALIAS("fs-rfs");

bool rfs_aufs_compat(void)
{
	return aufs_compat;
}

/* /sys/fs/aufs, a link to /sys/fs/rfs (@rfs). */
int rfs_aufs_sysfs_link(struct kobject *rfs)
{
	return sysfs_create_link(fs_kobj, rfs, "aufs");
}

void rfs_aufs_sysfs_unlink(void)
{
	sysfs_remove_link(fs_kobj, "aufs");
}

/*
 * /proc/fs/aufs/plink_maint (AUFS compatibility mode): aufs-util's auplink
 * writes "si=<hex id>" to pick a union, then "clean" once it has made
 * every name of a pseudo-linked file a real hard link. The commands are
 * parsed and run by rfs (@cmd, with the per-open state in private_data:
 * a number, nothing to free at close).
 */
static long (*rfs_maint_cmd)(void **state, const char *buf, size_t len);

static int rfs_maint_open(struct inode *inode, struct file *file)
{
	file->private_data = NULL;
	return nonseekable_open(inode, file);
}

static ssize_t rfs_maint_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *pos)
{
	char buf[64];
	long err;

	if (!capable(CAP_SYS_ADMIN))
		return -EACCES;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	err = rfs_maint_cmd(&file->private_data, buf, len);
	return err < 0 ? err : len;
}

static const struct proc_ops rfs_maint_ops = {
	.proc_open	= rfs_maint_open,
	.proc_write	= rfs_maint_write,
};

int rfs_aufs_proc_create(long (*cmd)(void **, const char *, size_t))
{
	struct proc_dir_entry *dir;

	rfs_maint_cmd = cmd;
	dir = proc_mkdir("fs/aufs", NULL);
	if (!dir)
		return -ENOMEM;
	if (!proc_create("plink_maint", 0200, dir, &rfs_maint_ops)) {
		remove_proc_subtree("fs/aufs", NULL);
		return -ENOMEM;
	}
	return 0;
}

void rfs_aufs_proc_remove(void)
{
	remove_proc_subtree("fs/aufs", NULL);
}

/* Calls @f for each live superblock of @type (s_umount held shared). */
void rfs_for_each_super(struct file_system_type *type,
			void (*f)(struct super_block *, void *), void *arg)
{
	iterate_supers_type(type, f, arg);
}

/* ------------------------------------------------------------------------
 * Kernel version differences (see rfs_vfs.h). Each function has one
 * meaning on every supported kernel.
 */

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
struct dentry *rfs_lookup_locked(struct dentry *dir, const char *name, int len)
{
	struct qstr q = QSTR_LEN(name, len);

	return lookup_one(&nop_mnt_idmap, &q, dir);
}

struct dentry *rfs_lookup_unlocked(struct dentry *dir, const char *name, int len)
{
	struct qstr q = QSTR_LEN(name, len);

	return lookup_one_unlocked(&nop_mnt_idmap, &q, dir);
}
#else
struct dentry *rfs_lookup_locked(struct dentry *dir, const char *name, int len)
{
	return lookup_one_len(name, dir, len);
}

struct dentry *rfs_lookup_unlocked(struct dentry *dir, const char *name, int len)
{
	return lookup_one_len_unlocked(name, dir, len);
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
int rfs_vfs_create(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode)
{
	return vfs_create(idmap, child, mode, NULL);
}

struct dentry *rfs_vfs_mkdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
			     umode_t mode)
{
	struct dentry *ret = vfs_mkdir(idmap, d_inode(dir), child, mode, NULL);

	/* On failure vfs_mkdir ends the creation (end_creating): it unlocks
	 * @dir, which rfs's caller holds locked (a DirGuard, I_MUTEX_PARENT)
	 * and unlocks itself: take it again. */
	if (IS_ERR(ret))
		inode_lock_nested(d_inode(dir), I_MUTEX_PARENT);
	return ret;
}

int rfs_vfs_mknod(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode,
		  dev_t rdev)
{
	return vfs_mknod(idmap, d_inode(dir), child, mode, rdev, NULL);
}

int rfs_vfs_symlink(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
		    const char *target)
{
	return vfs_symlink(idmap, d_inode(dir), child, target, NULL);
}

int rfs_vfs_rmdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child)
{
	return vfs_rmdir(idmap, d_inode(dir), child, NULL);
}
#else
int rfs_vfs_create(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode)
{
	return vfs_create(idmap, d_inode(dir), child, mode, true);
}

struct dentry *rfs_vfs_mkdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
			     umode_t mode)
{
	int err = vfs_mkdir(idmap, d_inode(dir), child, mode);

	if (err) {
		dput(child);
		return ERR_PTR(err);
	}
	return child;
}

int rfs_vfs_mknod(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode,
		  dev_t rdev)
{
	return vfs_mknod(idmap, d_inode(dir), child, mode, rdev);
}

int rfs_vfs_symlink(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
		    const char *target)
{
	return vfs_symlink(idmap, d_inode(dir), child, target);
}

int rfs_vfs_rmdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child)
{
	return vfs_rmdir(idmap, d_inode(dir), child);
}
#endif

/* No delegation (NULL): rfs's branches are local filesystems. */
int rfs_vfs_link(struct dentry *old, struct mnt_idmap *idmap, struct dentry *dir,
		 struct dentry *child)
{
	return vfs_link(old, idmap, d_inode(dir), child, NULL);
}

int rfs_vfs_unlink(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child)
{
	return vfs_unlink(idmap, d_inode(dir), child, NULL);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
int rfs_rename_start(struct rfs_rename *r, struct mnt_idmap *idmap, struct dentry *old_dir,
		     struct dentry *old_child, const char *old_name, int old_len,
		     struct dentry *new_dir, const char *new_name, int new_len)
{
	struct qstr oq = QSTR_LEN(old_name, old_len);
	struct qstr nq = QSTR_LEN(new_name, new_len);
	int err;

	memset(r, 0, sizeof(*r));
	r->rd.mnt_idmap = idmap;
	r->rd.old_parent = old_dir;
	r->rd.new_parent = new_dir;
	if (old_child)
		err = start_renaming_dentry(&r->rd, 0, old_child, &nq);
	else
		err = start_renaming(&r->rd, 0, &oq, &nq);
	if (err)
		return err;
	r->old = r->rd.old_dentry;
	r->new = r->rd.new_dentry;
	return 0;
}

int rfs_rename_do(struct rfs_rename *r, unsigned int flags)
{
	r->rd.flags = flags;
	return vfs_rename(&r->rd);
}

void rfs_rename_end(struct rfs_rename *r)
{
	end_renaming(&r->rd);
}
#else
int rfs_rename_start(struct rfs_rename *r, struct mnt_idmap *idmap, struct dentry *old_dir,
		     struct dentry *old_child, const char *old_name, int old_len,
		     struct dentry *new_dir, const char *new_name, int new_len)
{
	struct dentry *trap, *old, *new;
	int err;

	memset(r, 0, sizeof(*r));
	trap = lock_rename(old_dir, new_dir);
	if (IS_ERR(trap))
		return PTR_ERR(trap);
	if (old_child) {
		/* Moved or removed since its lookup: the caller looks again. */
		err = -EINVAL;
		if (old_child->d_parent != old_dir || d_unhashed(old_child))
			goto unlock;
		old = dget(old_child);
	} else {
		old = lookup_one_len(old_name, old_dir, old_len);
		err = PTR_ERR(old);
		if (IS_ERR(old))
			goto unlock;
	}
	new = lookup_one_len(new_name, new_dir, new_len);
	err = PTR_ERR(new);
	if (IS_ERR(new))
		goto put_old;
	/* A directory would move below itself, or over one of its parents. */
	err = -EINVAL;
	if (old == trap)
		goto put_new;
	err = -ENOTEMPTY;
	if (new == trap)
		goto put_new;
	r->rd.old_mnt_idmap = idmap;
	r->rd.old_dir = d_inode(old_dir);
	r->rd.old_dentry = old;
	r->rd.new_mnt_idmap = idmap;
	r->rd.new_dir = d_inode(new_dir);
	r->rd.new_dentry = new;
	r->trap = trap;
	r->old_dir = old_dir;
	r->new_dir = new_dir;
	r->old = old;
	r->new = new;
	return 0;

put_new:
	dput(new);
put_old:
	dput(old);
unlock:
	unlock_rename(old_dir, new_dir);
	return err;
}

int rfs_rename_do(struct rfs_rename *r, unsigned int flags)
{
	r->rd.flags = flags;
	return vfs_rename(&r->rd);
}

void rfs_rename_end(struct rfs_rename *r)
{
	unlock_rename(r->old_dir, r->new_dir);
	dput(r->old);
	dput(r->new);
}
#endif

struct dentry *rfs_rename_old(struct rfs_rename *r) { return r->old; }
struct dentry *rfs_rename_new(struct rfs_rename *r) { return r->new; }

/* Inline on newer kernels, where the override takes no reference: the
 * caller keeps its own on @cred while it is in force (CredGuard). */
const struct cred *rfs_override_creds(const struct cred *cred) { return override_creds(cred); }
void rfs_revert_creds(const struct cred *old) { revert_creds(old); }

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
int rfs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value, size_t len)
{
	struct qstr q = QSTR_LEN(value, len);

	return vfs_parse_fs_qstr(fc, key, value ? &q : NULL);
}
#else
int rfs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value, size_t len)
{
	return vfs_parse_fs_string(fc, key, value, len);
}
#endif

/* Fields the newer kernels put in unions with a writable alias. */
const struct path *rfs_file_path(const struct file *file) { return &file->f_path; }
const unsigned char *rfs_dentry_name(const struct dentry *dentry, unsigned int *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
void rfs_set_default_d_op(struct super_block *sb, const struct dentry_operations *ops)
{
	set_default_d_op(sb, ops);
}

/* Whether @sb's dentries revalidate themselves by default (6.17 keeps the
 * default operations' flags in s_d_flags). */
static bool rfs_sb_revalidates(const struct super_block *sb)
{
	return sb->s_d_flags & DCACHE_OP_REVALIDATE;
}
#else
void rfs_set_default_d_op(struct super_block *sb, const struct dentry_operations *ops)
{
	sb->s_d_op = ops;
}

static bool rfs_sb_revalidates(const struct super_block *sb)
{
	return sb->s_d_op && sb->s_d_op->d_revalidate;
}
#endif

void rfs_kobj_attr_set_show(struct kobj_attribute *ka,
			    ssize_t (*show)(struct kobject *, struct kobj_attribute *, char *))
{
	ka->show = show;
}

int rfs_vfs_truncate(const struct path *path, loff_t size)
{
	return vfs_truncate(path, size);
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
/* The parent and name are those of @dentry (stable here): unused. */
int rfs_d_revalidate_tramp(struct inode *dir, const struct qstr *name, struct dentry *dentry,
			   unsigned int flags)
{
	return rfs_op_d_revalidate(dentry, flags);
}
#else
int rfs_d_revalidate_tramp(struct dentry *dentry, unsigned int flags)
{
	return rfs_op_d_revalidate(dentry, flags);
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
/* NULL: @dentry itself is the new directory (rfs instantiates it). */
struct dentry *rfs_mkdir_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
			       umode_t mode)
{
	return ERR_PTR(rfs_op_mkdir(dir, dentry, mode));
}
#else
int rfs_mkdir_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode)
{
	return rfs_op_mkdir(dir, dentry, mode);
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 16, 0)
/* The VFS checked the union object (vfs_getattr: security_inode_getattr,
 * then ->getattr): the branch object is asked without a second check, as
 * overlayfs does (ovl_real_getattr_nosec). */
int rfs_getattr_lower(const struct path *path, struct kstat *stat, u32 mask, unsigned int flags)
{
	return vfs_getattr_nosec(path, stat, mask, flags);
}

int rfs_drop_inode(struct inode *inode) { return inode_just_drop(inode); }
#else
/* AT_GETATTR_NOSEC: the VFS asked without a security check (the check was
 * made on the union object), and so is the branch; vfs_getattr refuses the
 * flag (overlayfs: ovl_do_getattr). */
int rfs_getattr_lower(const struct path *path, struct kstat *stat, u32 mask, unsigned int flags)
{
	if (flags & AT_GETATTR_NOSEC)
		return vfs_getattr_nosec(path, stat, mask, flags);
	return vfs_getattr(path, stat, mask, flags);
}

int rfs_drop_inode(struct inode *inode) { return generic_delete_inode(inode); }
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
int rfs_create_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode)
{
	return rfs_op_create(dir, dentry, mode);
}
#else
/* @excl: O_EXCL; the VFS made sure the name is new (rfs ignores it). */
int rfs_create_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode,
		     bool excl)
{
	return rfs_op_create(dir, dentry, mode);
}
#endif

/*
 * udba=notify: fsnotify marks on the branch directories of cached union
 * directories (src/vfs/notify.rs has the design). The two callbacks are the
 * one piece of logic in this file: fsnotify calls them in the middle of
 * another filesystem's operation (under its directory lock), so they do
 * nothing but count, and free.
 */
struct rfs_watch {
	refcount_t ref;
	atomic64_t events;
	spinlock_t lock;
	struct list_head marks;	/* rfs_mark.node: the marks the owner holds */
};

struct rfs_mark {
	struct fsnotify_mark mark;
	struct rfs_watch *watch;
	struct list_head node;
};

/* What changes a directory's entries or its own attributes (an opaque
 * marker, a mode, an xattr); not its children's data or attributes. */
#define RFS_WATCH_MASK (FS_CREATE | FS_DELETE | FS_MOVED_FROM | FS_MOVED_TO | \
			FS_ATTRIB | FS_DELETE_SELF | FS_MOVE_SELF)

static int rfs_watch_event(struct fsnotify_mark *mark, u32 mask, struct inode *inode,
			   struct inode *dir, const struct qstr *name, u32 cookie)
{
	atomic64_inc(&container_of(mark, struct rfs_mark, mark)->watch->events);
	return 0;
}

/* Drops one reference: the owner's (rfs_watch_release) or a mark's. */
static void rfs_watch_put(struct rfs_watch *watch)
{
	if (watch && refcount_dec_and_test(&watch->ref))
		kfree(watch);
}

static void rfs_watch_free_mark(struct fsnotify_mark *mark)
{
	struct rfs_mark *m = container_of(mark, struct rfs_mark, mark);

	rfs_watch_put(m->watch);
	kfree(m);
}

static const struct fsnotify_ops rfs_notify_ops = {
	.handle_inode_event = rfs_watch_event,
	.free_mark = rfs_watch_free_mark,
};

/* A mount's group; two union inodes may watch one directory for a while
 * (a stale one still held, and its successor), hence DUPS. */
struct fsnotify_group *rfs_notify_group_new(void)
{
	return fsnotify_alloc_group(&rfs_notify_ops, FSNOTIFY_GROUP_DUPS);
}

/* After the last union inode went (each cleared its watch): waits until
 * fsnotify freed the marks (its worker calls rfs_watch_free_mark, then drops
 * the group reference each mark holds), then drops the group. A mark still
 * there after 10 s (a bug) keeps the module loaded instead: its callbacks
 * are this module's code. */
void rfs_notify_group_end(struct fsnotify_group *group)
{
	int waited = 0;

	WARN_ON_ONCE(!list_empty(&group->marks_list));
	for (;;) {
		fsnotify_wait_marks_destroyed();
		if (refcount_read(&group->refcnt) == 1)
			break;
		if (++waited > 10000) {
			WARN_ONCE(1, "rfs: fsnotify marks outlived the mount; the module stays loaded\n");
			__module_get(THIS_MODULE);
			break;
		}
		msleep(1);
	}
	fsnotify_put_group(group);
}

struct rfs_watch *rfs_watch_new(void)
{
	struct rfs_watch *w = kmalloc(sizeof(*w), GFP_KERNEL);

	if (w) {
		refcount_set(&w->ref, 1);
		atomic64_set(&w->events, 0);
		spin_lock_init(&w->lock);
		INIT_LIST_HEAD(&w->marks);
	}
	return w;
}

/* The owner's put: its marks were cleared before (rfs_watch_clear). */
void rfs_watch_release(struct rfs_watch *watch)
{
	WARN_ON_ONCE(!list_empty(&watch->marks));
	rfs_watch_put(watch);
}

u64 rfs_watch_events(const struct rfs_watch *watch) { return atomic64_read(&watch->events); }
void rfs_watch_bump(struct rfs_watch *watch) { atomic64_inc(&watch->events); }

/* Adds a mark on @dir counting into @watch (the watch's owner holds it
 * until rfs_watch_clear). -EREMOTE for a directory of a filesystem that
 * revalidates its own dentries (NFS, CIFS, FUSE, overlayfs, ...): its
 * contents may change without a local event, so the caller checks it the
 * reval way. */
int rfs_watch_add(struct fsnotify_group *group, struct rfs_watch *watch, struct inode *dir)
{
	struct rfs_mark *m;
	int err;

	if (rfs_sb_revalidates(dir->i_sb))
		return -EREMOTE;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	fsnotify_init_mark(&m->mark, group);
	m->mark.mask = RFS_WATCH_MASK;
	refcount_inc(&watch->ref);
	m->watch = watch;
	err = fsnotify_add_inode_mark(&m->mark, dir, 0);
	if (err) {
		fsnotify_put_mark(&m->mark);
		return err;
	}
	spin_lock(&watch->lock);
	list_add_tail(&m->node, &watch->marks);
	spin_unlock(&watch->lock);
	return 0;
}

/* Detaches every mark of @watch and drops the owner's references to them
 * (each is freed after a grace period). May sleep. */
void rfs_watch_clear(struct rfs_watch *watch)
{
	struct rfs_mark *m;

	for (;;) {
		spin_lock(&watch->lock);
		m = list_first_entry_or_null(&watch->marks, struct rfs_mark, node);
		if (m)
			list_del_init(&m->node);
		spin_unlock(&watch->lock);
		if (!m)
			break;
		fsnotify_destroy_mark(&m->mark, m->mark.group);
		fsnotify_put_mark(&m->mark);
	}
}
