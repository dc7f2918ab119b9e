# AR/VR headset mix (SCAR-style): hand tracking, passthrough depth, scene classification run together.

model scene_net = mobilenet_v2

workload headset {
  serve handtrack_resnet18 { forward batch=2  microbatches 2 }   # two hand crops per frame
  serve unet_depth         { forward batch=1 }                   # one depth map per frame
  serve scene_net          { forward batch=1 }
}

parallel { pipeline auto  segment 4 }
