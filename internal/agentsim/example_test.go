package agentsim_test

import (
	"errors"
	"fmt"

	"github.com/lifeline-vm/lifeline/internal/agentsim"
)

func ExampleConfigFromEnv() {
	env := map[string]string{
		agentsim.EnvStartDelay:   "2s",
		agentsim.EnvIgnoreSIGINT: "1",
	}
	cfg, err := agentsim.ConfigFromEnv(func(k string) string { return env[k] })
	fmt.Println(cfg.StartDelay, cfg.IgnoreSIGINT, cfg.NeverRunning, err)

	env[agentsim.EnvStartDelay] = "banana"
	_, err = agentsim.ConfigFromEnv(func(k string) string { return env[k] })
	var ke *agentsim.KnobError
	fmt.Println(errors.As(err, &ke), ke.Name)
	// Output:
	// 2s true false <nil>
	// true LIFELINE_SIM_START_DELAY
}
