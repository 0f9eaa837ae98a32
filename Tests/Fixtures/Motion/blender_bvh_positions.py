"""Blender side of BlenderBVHTests: import a BVH with Blender's own importer and write where Blender puts
every joint on every frame.

    blender -b --factory-startup --python blender_bvh_positions.py -- IN.bvh OUT.json

OUT.json: {"fps": F, "frames": [[[x, y, z] x joints] x T], "bones": [names]}, positions in metres in the BVH's
own axes (Y up), read from the pose bones' heads after `scene.frame_set`. Debian's Blender 3.4 importer opens
the file with mode "rU", which its Python 3.11 no longer accepts: `open` is wrapped to drop the "U".
"""
import builtins
import json
import sys

import bpy
from mathutils import Matrix

_open = builtins.open


def _open_without_universal_newlines(file, mode="r", *args, **kwargs):
    return _open(file, mode.replace("U", ""), *args, **kwargs)


builtins.open = _open_without_universal_newlines

bvh_path, out_path = sys.argv[sys.argv.index("--") + 1:][:2]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_anim.bvh(filepath=bvh_path, global_scale=1.0, use_fps_scale=False, update_scene_fps=True,
                        update_scene_duration=True, rotate_mode="NATIVE", axis_forward="-Z", axis_up="Y")
armature = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
scene = bpy.context.scene
# The importer turned Y-up into Blender's Z-up; turn the positions back into the file's axes.
to_file_axes = Matrix(((1, 0, 0), (0, 0, 1), (0, -1, 0)))
names = [bone.name for bone in armature.pose.bones]
frames = []
first, last = (int(round(f)) for f in armature.animation_data.action.frame_range)
for frame in range(first, last + 1):
    scene.frame_set(frame)
    frames.append([list(to_file_axes @ (armature.matrix_world @ bone.head)) for bone in armature.pose.bones])
with _open(out_path, "w") as out:
    json.dump({"fps": scene.render.fps / scene.render.fps_base, "bones": names, "frames": frames}, out)
