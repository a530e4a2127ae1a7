/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rfs_vfs.h - the C side of rfs's binding layer.
 *
 * The module's own bindgen pass reads this header and writes
 * src/vfs/sys_generated.rs, so everything the Rust code calls in the C VFS
 * is declared here: the kernel headers kernel::bindings lacks (namei.h,
 * fs_context.h, fs_parser.h, xattr.h, ...) and, below, one-line wrappers
 * (include/rfs_helpers.c) for static inline functions and macros that Rust
 * cannot call directly.
 */
#ifndef RFS_VFS_H
#define RFS_VFS_H

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dcache.h>
#include <linux/delayed_call.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fileattr.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/fs_stack.h>
#include <linux/iversion.h>
#include <linux/kobject.h>
#include <linux/mm.h>
#include <linux/mount.h>
#include <linux/namei.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/splice.h>
#include <linux/statfs.h>
#include <linux/sysfs.h>
#include <linux/uio.h>
#include <linux/version.h>
#include <linux/wait_bit.h>
#include <linux/xattr.h>

/*
 * Kernel version differences. rfs builds against Linux 6.12 and 7.3; what
 * changed in the VFS between them is absorbed here and in the "Kernel
 * version differences" part of rfs_helpers.c, so the Rust code sees one
 * interface:
 * - rfs_fileattr: `struct fileattr`, renamed `struct file_kattr` (6.17);
 * - the branch namespace operations below (inode arguments gave way to
 *   dentries, vfs_mkdir returns a dentry, delegation arguments, 6.15+);
 * - renames: lock_rename is no longer exported (6.18), start_renaming
 *   locks and looks up both names;
 * - lookups: lookup_one_len became lookup_one with a qstr (6.16);
 * - override_creds/revert_creds are inline and take no reference (6.14);
 * - the d_revalidate, create and mkdir operations changed their
 *   signatures: the union's implementations have one signature
 *   (rfs_op_*, in Rust) and trampolines here adapt them.
 * The versions in the #if lines are where each change is believed to have
 * landed; only 6.12 and 7.3 are built and tested.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
typedef struct file_kattr rfs_fileattr;
#else
typedef struct fileattr rfs_fileattr;
#endif

/* Namespace operations in a locked branch directory @dir. A negative
 * @child was looked up in it under the lock. */
struct dentry *rfs_lookup_locked(struct dentry *dir, const char *name, int len);
struct dentry *rfs_lookup_unlocked(struct dentry *dir, const char *name, int len);
int rfs_vfs_create(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode);
/* Consumes @child's reference; returns the new directory's dentry (which
 * may be another one, or negative on some filesystems) or an ERR_PTR. */
struct dentry *rfs_vfs_mkdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
			     umode_t mode);
int rfs_vfs_mknod(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child, umode_t mode,
		  dev_t rdev);
int rfs_vfs_symlink(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child,
		    const char *target);
int rfs_vfs_link(struct dentry *old, struct mnt_idmap *idmap, struct dentry *dir,
		 struct dentry *child);
int rfs_vfs_unlink(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child);
int rfs_vfs_rmdir(struct mnt_idmap *idmap, struct dentry *dir, struct dentry *child);

/* A rename in one branch: rfs_rename_start locks both directories and
 * looks both names up (the old one is given as a dentry, or by name when
 * @old_child is NULL); rfs_rename_old/new give the dentries (borrowed);
 * rfs_rename_do renames them; rfs_rename_end unlocks. */
struct rfs_rename {
	struct renamedata rd;
	struct dentry *trap;
	struct dentry *old_dir, *new_dir;
	struct dentry *old, *new;
};
int rfs_rename_start(struct rfs_rename *r, struct mnt_idmap *idmap, struct dentry *old_dir,
		     struct dentry *old_child, const char *old_name, int old_len,
		     struct dentry *new_dir, const char *new_name, int new_len);
struct dentry *rfs_rename_old(struct rfs_rename *r);
struct dentry *rfs_rename_new(struct rfs_rename *r);
int rfs_rename_do(struct rfs_rename *r, unsigned int flags);
void rfs_rename_end(struct rfs_rename *r);

/* The union's d_revalidate, create and mkdir, implemented in Rust (src/vfs/ops.rs)
 * with one signature, and the trampolines the operation tables hold. */
int rfs_op_d_revalidate(struct dentry *dentry, unsigned int flags);
int rfs_op_mkdir(struct inode *dir, struct dentry *dentry, umode_t mode);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
int rfs_d_revalidate_tramp(struct inode *dir, const struct qstr *name, struct dentry *dentry,
			   unsigned int flags);
#else
int rfs_d_revalidate_tramp(struct dentry *dentry, unsigned int flags);
#endif
int rfs_op_create(struct inode *dir, struct dentry *dentry, umode_t mode);
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
int rfs_create_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode);
#else
int rfs_create_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode,
		     bool excl);
#endif
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
struct dentry *rfs_mkdir_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry,
			       umode_t mode);
#else
int rfs_mkdir_tramp(struct mnt_idmap *idmap, struct inode *dir, struct dentry *dentry, umode_t mode);
#endif

const struct cred *rfs_override_creds(const struct cred *cred);
void rfs_revert_creds(const struct cred *old);
int rfs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value, size_t len);
int rfs_vfs_truncate(const struct path *path, loff_t size);
int rfs_getattr_lower(const struct path *path, struct kstat *stat, u32 mask, unsigned int flags);
/* generic_delete_inode, renamed inode_just_drop (6.18). */
int rfs_drop_inode(struct inode *inode);
const struct path *rfs_file_path(const struct file *file);
const unsigned char *rfs_dentry_name(const struct dentry *dentry, unsigned int *len);
void rfs_set_default_d_op(struct super_block *sb, const struct dentry_operations *ops);
void rfs_kobj_attr_set_show(struct kobj_attribute *ka,
			    ssize_t (*show)(struct kobject *, struct kobj_attribute *, char *));
/* Flags that are no plain numbers in the newer headers (bindgen cannot
 * evaluate them). */
enum {
	RFS_LOOKUP_RCU = LOOKUP_RCU,
	RFS_LOOKUP_REVAL = LOOKUP_REVAL,
	RFS_LOOKUP_FOLLOW = LOOKUP_FOLLOW,
};

/* Reference counting of VFS objects (static inline in the headers). */
struct dentry *rfs_dget(struct dentry *dentry);
void rfs_path_get(const struct path *path);
const struct cred *rfs_get_cred(const struct cred *cred);
void rfs_put_cred(const struct cred *cred);

/* RCU-walk (src/vfs/rcu.rs). */
void rfs_rcu_read_lock(void);
void rfs_rcu_read_unlock(void);
struct inode *rfs_d_inode_rcu(const struct dentry *dentry);
struct dentry *rfs_d_parent_rcu(const struct dentry *dentry);

/* Dentry and inode accessors. */
void rfs_forget_negative(struct dentry *dentry);
struct inode *rfs_d_inode(const struct dentry *dentry);
bool rfs_d_is_dir(const struct dentry *dentry);
bool rfs_d_unhashed(const struct dentry *dentry);
u64 rfs_inode_query_iversion(struct inode *inode);
bool rfs_inode_has_iversion(const struct inode *inode);
struct timespec64 rfs_inode_get_ctime(const struct inode *inode);
struct timespec64 rfs_inode_get_mtime(const struct inode *inode);
struct timespec64 rfs_inode_get_atime(const struct inode *inode);
void rfs_inode_set_times(struct inode *inode, struct timespec64 atime,
			 struct timespec64 mtime, struct timespec64 ctime);
void rfs_i_uid_gid(struct inode *dst, const struct inode *src);
void rfs_set_nlink(struct inode *inode, unsigned int nlink);
struct mnt_idmap *rfs_nop_mnt_idmap(void);
long rfs_ptr_err(const void *ptr);
bool rfs_is_err(const void *ptr);
void *rfs_err_ptr(long error);
void *rfs_d_fsdata(const struct dentry *dentry);
void rfs_set_d_fsdata(struct dentry *dentry, void *data);

/* Inode allocation from rfs's own slab cache. */
struct kmem_cache *rfs_inode_cache_create(size_t size, size_t vfs_inode_offset);
struct inode *rfs_alloc_inode_sb(struct super_block *sb, struct kmem_cache *cache);

/* fs_context and seq_file conveniences (variadic or inline in C). */
int rfs_param_type(const struct fs_parameter *param);
void rfs_fc_error(struct fs_context *fc, const char *msg, const char *detail, int detail_len);
int rfs_sysfs_emit_bytes(char *buf, int at, const char *bytes, int len);
void rfs_sysfs_attr_init(struct attribute *attr);
void rfs_seq_puts_escaped(struct seq_file *m, const char *bytes, size_t len);

/* Directory iteration: dir_context with a Rust actor. */
struct rfs_dir_context {
	struct dir_context ctx;
	void *owner;
};
int rfs_iterate_dir(struct file *file, struct rfs_dir_context *rctx, loff_t pos);
bool rfs_dir_emit_dots(struct file *file, struct dir_context *ctx);
struct mnt_idmap *rfs_mnt_idmap(const struct vfsmount *mnt);
dev_t rfs_inode_rdev(const struct inode *inode);
bool rfs_dir_emit(struct dir_context *ctx, const char *name, int namelen, u64 ino,
		  unsigned int type);
/* Implemented in Rust (src/vfs/dir.rs). */
bool rfs_filldir_actor(void *owner, const char *name, int namelen, u64 ino, unsigned int d_type);

/* mmap of the lower file in place of the union file. */
int rfs_call_mmap(struct file *file, struct vm_area_struct *vma);
bool rfs_can_mmap(struct file *file);
struct file *rfs_file_private(struct file *file);
void rfs_set_file_private(struct file *file, void *data);

/* Locking of lower directories and inodes (static inline in fs.h). */
void rfs_inode_lock_parent(struct inode *inode);
void rfs_inode_lock_child(struct inode *inode);
void rfs_inode_unlock(struct inode *inode);
void rfs_inode_lock(struct inode *inode);

/* Inode attribute updates of union inodes. */
void rfs_i_size_write(struct inode *inode, loff_t size);
void rfs_copy_attr(struct inode *dst, const struct inode *src);
void rfs_copy_inode_flags(struct inode *dst, const struct inode *src);
void rfs_clear_nlink(struct inode *inode);
umode_t rfs_inode_mode(const struct inode *inode);

/* Task state while copying. */
bool rfs_fatal_signal_pending(void);
void rfs_cond_resched(void);
void rfs_preempt_disable(void);
void rfs_preempt_enable(void);
const struct cred *rfs_current_cred(void);

/* Opening a union file after ->tmpfile (finish_open_simple is inline). */
int rfs_finish_open_simple(struct file *file);
void rfs_iattr_from_inode(struct iattr *attr, const struct inode *src, unsigned int what);
void rfs_do_delayed_call(struct delayed_call *call);
int rfs_dentry_name_copy(struct dentry *dentry, char *buf, int size);
bool rfs_is_rfs_inode(const struct inode *inode, const struct super_operations *sop);
int rfs_creds_for_create(const struct cred *caller, struct dentry *dentry, umode_t mode,
			 const struct cred **out);
int rfs_copy_up_creds(struct dentry *dentry, const struct cred **out);
int rfs_copy_up_xattr_allowed(struct dentry *src, const char *name);
int rfs_kiocb_write_flags(const struct kiocb *iocb);
void rfs_inode_set_lock_class(struct inode *inode);
void rfs_posix_acl_release(struct posix_acl *acl);
void rfs_inode_dont_cache_acl(struct inode *inode);

/* Per-union-inode copy-up lock: a bit lock in rfs's inode data (killable). */
int rfs_bit_lock_killable(unsigned long *word, int bit);
void rfs_bit_unlock(unsigned long *word, int bit);

/* Inode flags (fileattr) of branch objects, for copy-up; flush of a branch
 * file; ns_capable_noaudit for listxattr; a random 64-bit seed. */
int rfs_fileattr_get_flags(struct dentry *dentry, unsigned int *flags);
int rfs_fileattr_set_flags(struct mnt_idmap *idmap, struct dentry *dentry,
			   unsigned int flags, unsigned int mask);
int rfs_file_flush(struct file *file, fl_owner_t id);
struct inode *rfs_inode_cache_insert(struct inode *inode, void *key);
void rfs_inode_cache_rekey(struct inode *inode, void *key);
bool rfs_acl_kills_sgid(struct inode *inode);
int rfs_sync_branch_fs(struct super_block *sb);
int rfs_get_write_access(struct inode *inode);
void rfs_put_write_access(struct inode *inode);
ssize_t rfs_splice_write_real(struct pipe_inode_info *pipe, struct file *out,
			      loff_t *ppos, size_t len, unsigned int flags);
ssize_t rfs_write_nofreeze(struct file *file, const void *buf, size_t len, loff_t pos);
struct rfs_flusher;
struct rfs_flusher *rfs_flusher_new(void (*fn)(void *));
void rfs_flusher_set_data(struct rfs_flusher *f, void *data);
void rfs_flusher_arm(struct rfs_flusher *f, unsigned int secs);
void rfs_flusher_free(struct rfs_flusher *f);
void rfs_flusher_sync(struct rfs_flusher *f);
int rfs_truncate_nofreeze(struct file *file, loff_t size);
void rfs_inode_allow_odirect(struct inode *inode);
bool rfs_mnt_natively_ro(struct vfsmount *mnt);
int rfs_fiemap_real(struct inode *real, struct fiemap_extent_info *fieinfo, u64 start, u64 len);
bool rfs_dentry_weird(struct dentry *dentry);
bool rfs_sb_has_encoding(struct super_block *sb);
bool rfs_aufs_compat(void);
int rfs_aufs_sysfs_link(struct kobject *rfs);
void rfs_aufs_sysfs_unlink(void);
int rfs_aufs_proc_create(long (*cmd)(void **, const char *, size_t));
void rfs_aufs_proc_remove(void);
void rfs_for_each_super(struct file_system_type *type,
			void (*f)(struct super_block *, void *), void *arg);
int rfs_file_sync_flags(struct file *file, struct file *real);
int rfs_verify_read(struct file *file, loff_t pos, size_t len);
struct file *rfs_backing_file_open(const struct file *user, int flags,
				   const struct path *real_path, const struct cred *cred);
int rfs_mmap_backing_check(struct vm_area_struct *vma, struct file *real, struct file *user);
bool rfs_inode_mapped(struct inode *inode);
struct dentry *rfs_d_real(struct dentry *dentry, enum d_real_type type);
int rfs_fileattr_get_real(struct dentry *real, rfs_fileattr *fa);
int rfs_fileattr_set_real(struct mnt_idmap *idmap, struct dentry *real, rfs_fileattr *fa);
bool rfs_capable_sys_admin_noaudit(void);
bool rfs_capable_sys_admin(void);
int rfs_copy_to_user(unsigned long dst, const void *src, size_t n);
int rfs_copy_from_user(void *dst, unsigned long src, size_t n);
u64 rfs_random_u64(void);
u64 rfs_boot_seconds(void);
bool rfs_mnt_is_idmapped(const struct vfsmount *mnt);
void rfs_seq_puts(struct seq_file *m, const char *bytes, size_t len);

/*
 * udba=notify (src/vfs/notify.rs): a watch is a counter of the changes made in
 * the branch directories of one union directory, shared by the fsnotify
 * marks on those directories (one per member) and the union inode; it goes
 * with its last holder (a mark is freed by fsnotify after a grace period,
 * so its callback never sees a freed watch).
 */
struct rfs_watch;
struct fsnotify_group;
struct fsnotify_group *rfs_notify_group_new(void);
void rfs_notify_group_end(struct fsnotify_group *group);
struct rfs_watch *rfs_watch_new(void);
void rfs_watch_release(struct rfs_watch *watch);
u64 rfs_watch_events(const struct rfs_watch *watch);
void rfs_watch_bump(struct rfs_watch *watch);
int rfs_watch_add(struct fsnotify_group *group, struct rfs_watch *watch, struct inode *dir);
void rfs_watch_clear(struct rfs_watch *watch);

/* The module's one static mutex (src/vfs/global.rs). */
void rfs_global_lock(void);
void rfs_global_unlock(void);

#endif /* RFS_VFS_H */
