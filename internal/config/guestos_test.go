package config

import "testing"

func TestGuestOSPicksTheDefaultImage(t *testing.T) {
	cases := []struct {
		name      string
		flags     Flags
		env       func(string) (string, bool)
		file      string
		wantOS    string
		wantImage string
	}{
		{"default", Flags{}, env(), "", "fedora", "quay.io/containerdisks/fedora:41"},
		{"flag", Flags{GuestOS: ptr("debian")}, env(), "", "debian", "quay.io/containerdisks/debian:12"},
		{"env", Flags{}, env("VIRTWORK_GUEST_OS", "ubuntu"), "", "ubuntu", "quay.io/containerdisks/ubuntu:24.04"},
		{"file", Flags{}, env(), "guestOs: centos-stream\n", "centos-stream", "quay.io/containerdisks/centos-stream:9"},
		{"flag over env", Flags{GuestOS: ptr("debian")}, env("VIRTWORK_GUEST_OS", "ubuntu"), "", "debian", "quay.io/containerdisks/debian:12"},
		{"an image given wins", Flags{GuestOS: ptr("debian")}, env(), "containerDiskImage: quay.io/containerdisks/debian:13\n", "debian", "quay.io/containerdisks/debian:13"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			if tc.file != "" {
				f.Config = ptr(writeFile(t, "c.yaml", tc.file))
			}
			c, err := Load(f, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.GuestOS != tc.wantOS || c.ContainerDiskImage != tc.wantImage {
				t.Errorf("guest OS %q image %q, want %q %q", c.GuestOS, c.ContainerDiskImage, tc.wantOS, tc.wantImage)
			}
		})
	}
}

func TestParamsFromEachSource(t *testing.T) {
	file := writeFile(t, "c.yaml", "workloads:\n  database:\n    params:\n      scale: 7\n      clients: 3\n")
	c, err := Load(Flags{Config: &file, Params: []string{"database.scale=2"}},
		env("VIRTWORK_PARAMS", "database.duration=60, database.scale=4"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range c.Params {
		got[p.Workload+"."+p.Key] = p.Value + " from " + p.Source
	}
	want := map[string]string{
		"database.scale":    "2 from --param", // flag over env over file
		"database.clients":  "3 from " + file + ":5: workloads.database.params.clients",
		"database.duration": "60 from VIRTWORK_PARAMS",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("params %v, want %v", got, want)
	}
}
